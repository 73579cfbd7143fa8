use super::*;
use crate::Algorithm;

// tests/vectors/certificates/*.der, made by make_certificates.sh with the
// openssl CLI; every one is valid from NOT_BEFORE to NOT_AFTER (+/- 1 s,
// per `openssl x509 -noout -dates`).
const NOT_BEFORE: i64 = 1_795_705_536;
const NOT_AFTER: i64 = 4_949_305_535;
const NOW: i64 = NOT_BEFORE + 86_400;

fn der(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/vectors/certificates/{name}.der",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

fn signature(key_type: &str) -> Signature {
    Signature {
        hash: Algorithm::Sha256,
        hash_method: "SHA-256".into(),
        key_type: key_type.into(),
        certificate_id: "cert-1".into(),
        signature: vec![1],
    }
}

fn strict() -> CertificatePolicy {
    CertificatePolicy {
        require_curve_match: true,
        check_certificate_dates: true,
        min_rsa_key_size: 2048,
    }
}

fn lenient() -> CertificatePolicy {
    CertificatePolicy {
        require_curve_match: false,
        check_certificate_dates: false,
        min_rsa_key_size: 0,
    }
}

fn codes(problems: &[Problem]) -> Vec<ProblemCode> {
    problems.iter().map(|p| p.code).collect()
}

#[test]
fn good_certificates_pass() {
    for (name, key_type) in [
        ("rsa2048", "RSA-PSS"),
        ("p384", "ECC_SECP384R1"),
        ("p521", "ECC_SECP521R1"),
        ("dsa2048", "DSA"),
    ] {
        let problems = check_certificate(&der(name), &signature(key_type), &strict(), NOW);
        assert_eq!(problems, vec![], "{name}");
    }
}

#[test]
fn small_rsa_keys_are_refused_with_what_to_do() {
    let p = check_certificate(&der("rsa1024"), &signature("RSA-PSS"), &strict(), NOW);
    assert_eq!(codes(&p), vec![ProblemCode::KeyTooSmall]);
    assert!(p[0].message.contains("has 1024 bits"), "{}", p[0].message);
    assert!(p[0].message.contains("at least 2048"));
    assert!(p[0].message.contains("openssl genrsa"));
    let mut policy = strict();
    policy.min_rsa_key_size = 1024;
    assert_eq!(
        check_certificate(&der("rsa1024"), &signature("RSA-PSS"), &policy, NOW),
        vec![]
    );
    policy.min_rsa_key_size = 2049;
    assert_eq!(
        codes(&check_certificate(
            &der("rsa2048"),
            &signature("RSA-PSS"),
            &policy,
            NOW
        )),
        vec![ProblemCode::KeyTooSmall]
    );
}

#[test]
fn curves_must_match_the_key_type() {
    for (name, key_type, shown) in [
        ("p256", "ECC_SECP384R1", "P-256"),
        ("p521", "ECC_SECP384R1", "P-521"),
        ("p384", "ECC_SECP521R1", "P-384"),
    ] {
        let p = check_certificate(&der(name), &signature(key_type), &strict(), NOW);
        assert_eq!(codes(&p), vec![ProblemCode::CurveMismatch], "{name}");
        assert!(p[0].message.contains(shown), "{}", p[0].message);
        assert!(p[0].message.contains(key_type));
        // cursive lets these through; so does the lenient policy.
        assert_eq!(
            check_certificate(&der(name), &signature(key_type), &lenient(), NOW),
            vec![]
        );
    }
}

#[test]
fn validity_dates() {
    let rsa = der("rsa2048");
    let sig = signature("RSA-PSS");
    let p = check_certificate(&rsa, &sig, &strict(), NOT_AFTER + 1);
    assert_eq!(codes(&p), vec![ProblemCode::CertificateExpired]);
    assert!(
        p[0].message.contains("expired on Nov  2 15:05:3"),
        "{}",
        p[0].message
    );
    let p = check_certificate(&rsa, &sig, &strict(), NOT_BEFORE - 10);
    assert_eq!(codes(&p), vec![ProblemCode::CertificateNotYetValid]);
    assert_eq!(
        check_certificate(&rsa, &sig, &strict(), NOT_AFTER - 1),
        vec![]
    );
    assert_eq!(
        check_certificate(&rsa, &sig, &lenient(), NOT_AFTER + 1),
        vec![]
    );
}

#[test]
fn every_problem_at_once() {
    let p = check_certificate(
        &der("rsa1024"),
        &signature("RSA-PSS"),
        &strict(),
        NOT_AFTER + 1,
    );
    assert_eq!(
        codes(&p),
        vec![ProblemCode::CertificateExpired, ProblemCode::KeyTooSmall]
    );
}

#[test]
fn garbage_is_unusable_not_a_panic() {
    for data in [
        &b""[..],
        b"\x30\x03\x02\x01",
        b"not a certificate",
        &der("p384")[..100],
    ] {
        let p = check_certificate(data, &signature("ECC_SECP384R1"), &strict(), NOW);
        assert_eq!(codes(&p), vec![ProblemCode::CertificateUnusable]);
        assert!(p[0].message.contains("cert-1"));
    }
}

#[test]
fn bit_counting() {
    assert_eq!(bits(&[]), 0);
    assert_eq!(bits(&[0, 0]), 0);
    assert_eq!(bits(&[1]), 1);
    assert_eq!(bits(&[0, 0x80, 0]), 16);
    assert_eq!(bits(&[0x7f, 0xff]), 15);
}
