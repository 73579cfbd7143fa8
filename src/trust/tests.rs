//! Chains made with OpenSSL (the `openssl` crate's X509Builder), checked
//! against the semantics stated in the module docs.

use openssl::asn1::{Asn1Integer, Asn1Time, Asn1Type};
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509Builder, X509Name, X509NameBuilder, X509};

use super::*;

const NOW: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

fn name(cn: &str, string_type: Asn1Type) -> X509Name {
    let mut b = X509NameBuilder::new().unwrap();
    b.append_entry_by_nid_with_type(Nid::COMMONNAME, cn, string_type)
        .unwrap();
    b.build()
}

/// What a test certificate is.
struct Spec<'a> {
    cn: &'a str,
    /// `Some(path_len)` for a CA (keyCertSign set unless `no_cert_sign`).
    ca: Option<Option<u32>>,
    no_cert_sign: bool,
    issuer: Option<(&'a X509, &'a PKey<Private>)>,
    /// Validity, in days relative to NOW.
    from: i64,
    until: i64,
    issuer_name_type: Asn1Type,
}

impl<'a> Spec<'a> {
    fn leaf(cn: &'a str) -> Self {
        Spec {
            cn,
            ca: None,
            no_cert_sign: false,
            issuer: None,
            from: -1,
            until: 365,
            issuer_name_type: Asn1Type::UTF8STRING,
        }
    }
    fn ca(cn: &'a str, path_len: Option<u32>) -> Self {
        Spec {
            ca: Some(path_len),
            ..Spec::leaf(cn)
        }
    }
    fn by(mut self, issuer: &'a (X509, PKey<Private>)) -> Self {
        self.issuer = Some((&issuer.0, &issuer.1));
        self
    }
    fn make(self) -> (X509, PKey<Private>) {
        let key = key();
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        let serial = Asn1Integer::from_bn(&BigNum::from_u32(rand_serial()).unwrap()).unwrap();
        b.set_serial_number(&serial).unwrap();
        b.set_subject_name(&name(self.cn, Asn1Type::UTF8STRING))
            .unwrap();
        match self.issuer {
            Some((cert, _)) => {
                let cn = cert
                    .subject_name()
                    .entries_by_nid(Nid::COMMONNAME)
                    .next()
                    .unwrap()
                    .data()
                    .as_slice()
                    .to_vec();
                let cn = String::from_utf8(cn).unwrap();
                b.set_issuer_name(&name(&cn, self.issuer_name_type))
                    .unwrap()
            }
            None => b
                .set_issuer_name(&name(self.cn, self.issuer_name_type))
                .unwrap(),
        }
        b.set_pubkey(&key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(NOW + self.from * DAY).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(NOW + self.until * DAY).unwrap())
            .unwrap();
        if let Some(path_len) = self.ca {
            let mut bc = BasicConstraints::new();
            bc.critical().ca();
            if let Some(n) = path_len {
                bc.pathlen(n);
            }
            b.append_extension(bc.build().unwrap()).unwrap();
            let mut ku = KeyUsage::new();
            ku.critical().crl_sign();
            if !self.no_cert_sign {
                ku.key_cert_sign();
            }
            b.append_extension(ku.build().unwrap()).unwrap();
        } else {
            b.append_extension(BasicConstraints::new().critical().build().unwrap())
                .unwrap();
        }
        let signer = self.issuer.map_or(&key, |(_, k)| k);
        b.sign(signer, MessageDigest::sha256()).unwrap();
        (b.build(), key)
    }
}

fn rand_serial() -> u32 {
    let mut buf = [0u8; 4];
    openssl::rand::rand_bytes(&mut buf).unwrap();
    u32::from_be_bytes(buf) >> 1
}

fn der(c: &(X509, PKey<Private>)) -> Vec<u8> {
    c.0.to_der().unwrap()
}

fn trusted(certs: &[(&str, &(X509, PKey<Private>))]) -> Vec<(String, Vec<u8>)> {
    certs
        .iter()
        .map(|(id, c)| ((*id).to_owned(), der(c)))
        .collect()
}

/// The refusal message, or None if the certificate is trusted.
fn verdict(
    leaf: &(X509, PKey<Private>),
    anchors: &[(&str, &(X509, PKey<Private>))],
) -> Option<String> {
    let problems = check_trust(&der(leaf), "signer", &trusted(anchors), NOW);
    assert!(problems.len() <= 1);
    problems.into_iter().next().map(|p| {
        assert_eq!(p.code, ProblemCode::CertificateUntrusted);
        p.message
    })
}

#[test]
fn leaf_of_a_ca_without_path_length_is_trusted() {
    // The case cursive 0.2.3 crashes on.
    let root = Spec::ca("root", None).make();
    let leaf = Spec::leaf("signer").by(&root).make();
    assert_eq!(verdict(&leaf, &[("root", &root)]), None);
}

#[test]
fn leaf_of_a_ca_with_path_length_zero_is_trusted() {
    let root = Spec::ca("root", Some(0)).make();
    let leaf = Spec::leaf("signer").by(&root).make();
    assert_eq!(verdict(&leaf, &[("root", &root)]), None);
}

#[test]
fn path_length_zero_refuses_an_intermediate_below() {
    let root = Spec::ca("root", Some(0)).make();
    let inter = Spec::ca("intermediate", None).by(&root).make();
    let leaf = Spec::leaf("signer").by(&inter).make();
    let message = verdict(&leaf, &[("root", &root), ("inter", &inter)]).unwrap();
    assert!(
        message.contains(
            "'root' is not configured to support certificate chains of sufficient length"
        ),
        "{message}"
    );
}

#[test]
fn path_length_one_allows_one_intermediate() {
    let root = Spec::ca("root", Some(1)).make();
    let inter = Spec::ca("intermediate", Some(0)).by(&root).make();
    let leaf = Spec::leaf("signer").by(&inter).make();
    assert_eq!(verdict(&leaf, &[("inter", &inter), ("root", &root)]), None);
}

#[test]
fn every_link_must_be_trusted() {
    let root = Spec::ca("root", None).make();
    let inter = Spec::ca("intermediate", None).by(&root).make();
    let leaf = Spec::leaf("signer").by(&inter).make();
    let message = verdict(&leaf, &[("inter", &inter)]).unwrap();
    assert!(
        message.contains("Could not locate the signing certificate for certificate 'inter'"),
        "{message}"
    );
}

#[test]
fn self_signed_certificate_is_not_trusted() {
    let root = Spec::ca("root", None).make();
    let leaf = Spec::leaf("signer").make();
    let message = verdict(&leaf, &[("root", &root)]).unwrap();
    assert!(
        message.starts_with(
            "the signing certificate signer is not trusted on this cloud: Certificate chain building failed. \
             Could not locate the signing certificate for the base certificate"
        ),
        "{message}"
    );
}

#[test]
fn a_trusted_ca_may_sign_images_itself() {
    let root = Spec::ca("root", None).make();
    assert_eq!(verdict(&root, &[("root", &root)]), None);
}

#[test]
fn same_name_but_another_key_is_not_the_issuer() {
    let root = Spec::ca("root", None).make();
    let impostor = Spec::ca("root", None).make();
    let leaf = Spec::leaf("signer").by(&impostor).make();
    assert!(verdict(&leaf, &[("root", &root)]).is_some());
}

#[test]
fn names_compare_by_text_not_string_type() {
    // cryptography's Name equality compares attribute values as text, so
    // a PrintableString issuer name matches a UTF8String subject.
    let root = Spec::ca("root", None).make();
    let mut spec = Spec::leaf("signer").by(&root);
    spec.issuer_name_type = Asn1Type::PRINTABLESTRING;
    let leaf = spec.make();
    assert_eq!(verdict(&leaf, &[("root", &root)]), None);
}

#[test]
fn unusable_trusted_certificates_are_skipped() {
    let expired = Spec {
        from: -20,
        until: -10,
        ..Spec::ca("root", None)
    }
    .make();
    let no_cert_sign = Spec {
        no_cert_sign: true,
        ..Spec::ca("root", None)
    }
    .make();
    let not_a_ca = Spec::leaf("root").make();
    for (what, root) in [
        ("expired", &expired),
        ("no keyCertSign", &no_cert_sign),
        ("not a CA", &not_a_ca),
    ] {
        let leaf = Spec::leaf("signer").by(root).make();
        assert!(verdict(&leaf, &[("root", root)]).is_some(), "{what}");
    }
    let good = Spec::ca("root", None).make();
    let leaf = Spec::leaf("signer").by(&good).make();
    assert_eq!(verdict(&leaf, &[("bad", &expired), ("good", &good)]), None);
    let problems = check_trust(
        &der(&leaf),
        "signer",
        &[
            ("garbage".into(), b"not DER".to_vec()),
            ("good".into(), der(&good)),
        ],
        NOW,
    );
    assert_eq!(problems, vec![]);
}

#[test]
fn signing_certificate_outside_its_dates_is_not_trusted() {
    let root = Spec::ca("root", None).make();
    for (from, until) in [(-20, -10), (10, 20)] {
        let leaf = Spec {
            from,
            until,
            ..Spec::leaf("signer")
        }
        .by(&root)
        .make();
        let message = verdict(&leaf, &[("root", &root)]).unwrap();
        assert!(
            message.contains("outside its valid date range"),
            "{message}"
        );
    }
}

#[test]
fn cas_that_issued_each_other_end_in_a_refusal_not_a_loop() {
    let a_key = key();
    let b_key = key();
    // A is issued by B and B by A: names and keys line up both ways.
    let make = |cn: &str, issuer_cn: &str, key: &PKey<Private>, signer: &PKey<Private>| {
        let mut b = X509Builder::new().unwrap();
        b.set_version(2).unwrap();
        b.set_subject_name(&name(cn, Asn1Type::UTF8STRING)).unwrap();
        b.set_issuer_name(&name(issuer_cn, Asn1Type::UTF8STRING))
            .unwrap();
        b.set_pubkey(key).unwrap();
        b.set_not_before(&Asn1Time::from_unix(NOW - DAY).unwrap())
            .unwrap();
        b.set_not_after(&Asn1Time::from_unix(NOW + DAY).unwrap())
            .unwrap();
        b.append_extension(BasicConstraints::new().critical().ca().build().unwrap())
            .unwrap();
        b.append_extension(KeyUsage::new().key_cert_sign().build().unwrap())
            .unwrap();
        b.sign(signer, MessageDigest::sha256()).unwrap();
        b.build()
    };
    let a = (make("A", "B", &a_key, &b_key), a_key);
    let b = (make("B", "A", &b_key, &a.1), b_key);
    let leaf = Spec::leaf("signer").by(&a).make();
    let message = verdict(&leaf, &[("a", &a), ("b", &b)]).unwrap();
    assert!(message.contains("in a loop"), "{message}");
}

#[test]
fn garbage_is_not_trusted() {
    let root = Spec::ca("root", None).make();
    let problems = check_trust(
        b"\x30\x03\x02\x01",
        "signer",
        &trusted(&[("root", &root)]),
        NOW,
    );
    assert_eq!(problems.len(), 1);
    assert!(problems[0]
        .message
        .contains("not a valid X.509 certificate"));
}
