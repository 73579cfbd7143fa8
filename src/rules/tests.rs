use super::*;
use crate::plan::Verdict;
use crate::policy::CertificatePolicy;

/// The policy the `[import_guard]` defaults produce with cryptography >= 47.
pub(crate) fn policy() -> Policy {
    Policy {
        require_signature: true,
        required_signature_properties: SIGNATURE_PROPERTIES.iter().map(|s| s.to_string()).collect(),
        supported_key_types: ["DSA", "ECC_SECP384R1", "ECC_SECP521R1", "RSA-PSS"]
            .map(String::from)
            .to_vec(),
        allowed_key_types: vec![],
        require_hash: false,
        hash_algo_property: "img_hash_algo".into(),
        hash_value_property: "img_hash_value".into(),
        allowed_hash_algorithms: Algorithm::ALL
            .iter()
            .copied()
            .filter(|a| !matches!(a, Algorithm::Md5 | Algorithm::Sha1))
            .collect(),
        also_compute: vec!["sha512".into()],
        certificate: CertificatePolicy {
            require_curve_match: true,
            check_certificate_dates: true,
            min_rsa_key_size: 2048,
        },
    }
}

// base64 of 4 bytes, made with `printf 'sig!' | base64`.
const SIG_B64: &str = "c2lnIQ==";
// sha256("abc") from `printf abc | sha256sum` (FIPS 180-2 example).
const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn signed() -> BTreeMap<String, String> {
    [
        (SIGNATURE, SIG_B64),
        (SIGNATURE_HASH_METHOD, "SHA-256"),
        (SIGNATURE_KEY_TYPE, "RSA-PSS"),
        (
            SIGNATURE_CERTIFICATE_ID,
            "5f1c7a8e-0d3b-4a57-9d1e-3c0b8f2f6d10",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn with(
    mut props: BTreeMap<String, String>,
    changes: &[(&str, Option<&str>)],
) -> BTreeMap<String, String> {
    for (k, v) in changes {
        match v {
            Some(v) => props.insert(k.to_string(), v.to_string()),
            None => props.remove(*k),
        };
    }
    props
}

fn codes(verdict: &Verdict) -> Vec<(ProblemCode, Option<&str>)> {
    verdict
        .problems
        .iter()
        .map(|p| (p.code, p.property.as_deref()))
        .collect()
}

use ProblemCode::*;

#[test]
fn a_complete_signature_passes_and_plans_its_hash() {
    let v = check_properties(&signed(), &policy(), false);
    assert_eq!(v.problems, vec![]);
    assert!(v.signature_required);
    let s = v.plan.signature.expect("signature in plan");
    assert_eq!(s.hash, Algorithm::Sha256);
    assert_eq!(s.signature, b"sig!");
    assert_eq!(s.certificate_id, "5f1c7a8e-0d3b-4a57-9d1e-3c0b8f2f6d10");
    assert_eq!(
        v.plan.algorithms,
        vec![Algorithm::Sha256, Algorithm::Sha512]
    );
    assert_eq!(v.plan.declared, None);
}

#[test]
fn every_problem_is_reported_at_once() {
    let props = with(
        BTreeMap::new(),
        &[
            (SIGNATURE, Some("c2lnI")),
            (SIGNATURE_HASH_METHOD, Some("sha256")),
            ("img_hash_algo", Some("md5")),
            ("img_hash_value", Some("00")),
        ],
    );
    let v = check_properties(&props, &policy(), false);
    assert_eq!(
        codes(&v),
        vec![
            (MissingSignatureProperty, Some(SIGNATURE_KEY_TYPE)),
            (MissingSignatureProperty, Some(SIGNATURE_CERTIFICATE_ID)),
            (UnknownSignatureHashMethod, Some(SIGNATURE_HASH_METHOD)),
            (BadSignatureEncoding, Some(SIGNATURE)),
            (DisallowedHashAlgorithm, Some("img_hash_algo")),
        ]
    );
    assert_eq!(v.plan.signature, None);
}

#[test]
fn lower_case_hash_method_message_suggests_the_right_spelling() {
    let v = check_properties(
        &with(signed(), &[(SIGNATURE_HASH_METHOD, Some("sha256"))]),
        &policy(),
        false,
    );
    assert!(
        v.problems[0].message.contains("use 'SHA-256'"),
        "{}",
        v.problems[0].message
    );
}

#[test]
fn long_values_are_cut_short_in_messages() {
    let long = "x".repeat(70_000);
    let v = check_properties(
        &with(signed(), &[(SIGNATURE_KEY_TYPE, Some(&long))]),
        &policy(),
        false,
    );
    assert!(
        v.problems[0].message.len() < 300,
        "{}",
        v.problems[0].message.len()
    );
}

#[test]
fn operator_can_narrow_key_types() {
    let mut p = policy();
    p.allowed_key_types = vec!["ECC_SECP521R1".into()];
    p.validate().unwrap();
    let v = check_properties(&signed(), &p, false);
    assert_eq!(
        codes(&v),
        vec![(DisallowedSignatureKeyType, Some(SIGNATURE_KEY_TYPE))]
    );
    assert!(v.problems[0].message.contains("ECC_SECP521R1"));
}

#[test]
fn signature_not_required_when_off_or_exempt() {
    let mut off = policy();
    off.require_signature = false;
    let v = check_properties(&BTreeMap::new(), &off, false);
    assert_eq!(v.problems, vec![]);
    assert!(!v.signature_required);

    let v = check_properties(&BTreeMap::new(), &policy(), true);
    assert_eq!(v.problems, vec![]);
    assert!(!v.signature_required);
    let v = check_properties(&BTreeMap::new(), &policy(), false);
    assert_eq!(v.problems.len(), 4);
    assert!(v.signature_required);
}

#[test]
fn exempt_imports_still_check_declared_digest_and_present_values() {
    let props = with(
        BTreeMap::new(),
        &[
            (SIGNATURE_HASH_METHOD, Some("sha256")),
            ("img_hash_algo", Some("sha256")),
        ],
    );
    let v = check_properties(&props, &policy(), true);
    assert_eq!(
        codes(&v),
        vec![
            (UnknownSignatureHashMethod, Some(SIGNATURE_HASH_METHOD)),
            (IncompleteDeclaredDigest, Some("img_hash_value")),
        ]
    );
}

#[test]
fn require_hash() {
    let mut p = policy();
    p.require_hash = true;
    let v = check_properties(&signed(), &p, false);
    assert_eq!(
        codes(&v),
        vec![(MissingDeclaredDigest, Some("img_hash_value"))]
    );
}

#[test]
fn configurable_property_names() {
    let mut p = policy();
    p.hash_algo_property = "x_algo".into();
    p.hash_value_property = "x_value".into();
    let props = with(
        signed(),
        &[("x_algo", Some("sha256")), ("x_value", Some(ABC_SHA256))],
    );
    let v = check_properties(&props, &p, false);
    assert_eq!(v.problems, vec![]);
    assert_eq!(v.plan.declared.unwrap().property, "x_value");
    // The default names are now ordinary properties.
    let props = with(signed(), &[("img_hash_algo", Some("sha256"))]);
    assert_eq!(check_properties(&props, &p, false).problems, vec![]);
}

#[test]
fn required_signature_properties_are_configurable() {
    let mut p = policy();
    p.required_signature_properties = vec![SIGNATURE.into(), "x_signer".into()];
    let v = check_properties(&with(signed(), &[(SIGNATURE_KEY_TYPE, None)]), &p, false);
    assert_eq!(
        codes(&v),
        vec![(MissingSignatureProperty, Some("x_signer"))]
    );
}

#[test]
fn plan_holds_each_algorithm_once_and_skips_unknown_extras() {
    let mut p = policy();
    p.also_compute = vec!["sha256".into(), "sha512_256".into()];
    let props = with(
        signed(),
        &[
            ("img_hash_algo", Some("sha256")),
            ("img_hash_value", Some(ABC_SHA256)),
        ],
    );
    let v = check_properties(&props, &p, false);
    assert_eq!(v.plan.algorithms, vec![Algorithm::Sha256]);
}

#[test]
fn overlong_values_are_refused_before_anything_else() {
    let huge_sig = "A".repeat(MAX_SIGNATURE_LEN + 4);
    let long = "x".repeat(MAX_PROPERTY_LEN + 1);
    let props = with(
        signed(),
        &[
            (SIGNATURE, Some(&huge_sig)),
            (SIGNATURE_KEY_TYPE, Some(&long)),
            ("img_hash_algo", Some("sha256")),
            ("img_hash_value", Some(&long)),
        ],
    );
    let v = check_properties(&props, &policy(), false);
    assert_eq!(
        codes(&v),
        vec![
            (PropertyTooLong, Some(SIGNATURE)),
            (PropertyTooLong, Some(SIGNATURE_KEY_TYPE)),
            (PropertyTooLong, Some("img_hash_value")),
        ]
    );
    assert!(v.problems[0]
        .message
        .contains("16388 bytes long; the guard accepts at most 16384"));
    assert_eq!(v.plan.signature, None);
    assert_eq!(v.plan.declared, None);
    // At the limit, the value is checked as usual (and here is fine).
    let wrapped_sig = format!(
        "{}{}",
        "\n".repeat(MAX_SIGNATURE_LEN - SIG_B64.len()),
        SIG_B64
    );
    let v = check_properties(
        &with(signed(), &[(SIGNATURE, Some(&wrapped_sig))]),
        &policy(),
        false,
    );
    assert_eq!(v.problems, vec![]);
}

/// The table of property cases, one row per rule and value.
mod table;
