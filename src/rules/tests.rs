use super::*;
use crate::hasher::{hash_reader, HashOptions};

/// The policy the `[import_guard]` defaults produce with cryptography >= 47.
fn policy() -> Policy {
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
        exempt_roles: vec![],
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
    let v = check_properties(&signed(), &policy(), &[]);
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
fn table_of_property_cases() {
    let sig = signed();
    type Expected<'a> = Vec<(ProblemCode, Option<&'a str>)>;
    let cases: Vec<(&str, BTreeMap<String, String>, Expected)> = vec![
        (
            "unsigned",
            BTreeMap::new(),
            SIGNATURE_PROPERTIES
                .iter()
                .map(|p| (MissingSignatureProperty, Some(*p)))
                .collect(),
        ),
        (
            "one missing",
            with(sig.clone(), &[(SIGNATURE_KEY_TYPE, None)]),
            vec![(MissingSignatureProperty, Some(SIGNATURE_KEY_TYPE))],
        ),
        (
            "one empty",
            with(sig.clone(), &[(SIGNATURE_CERTIFICATE_ID, Some(""))]),
            vec![(MissingSignatureProperty, Some(SIGNATURE_CERTIFICATE_ID))],
        ),
        (
            "one blank",
            with(sig.clone(), &[(SIGNATURE, Some("  \n"))]),
            vec![(MissingSignatureProperty, Some(SIGNATURE))],
        ),
        (
            "lower-case hash method",
            with(sig.clone(), &[(SIGNATURE_HASH_METHOD, Some("sha256"))]),
            vec![(UnknownSignatureHashMethod, Some(SIGNATURE_HASH_METHOD))],
        ),
        (
            "unknown hash method",
            with(sig.clone(), &[(SIGNATURE_HASH_METHOD, Some("SHA-1"))]),
            vec![(UnknownSignatureHashMethod, Some(SIGNATURE_HASH_METHOD))],
        ),
        (
            "unknown key type",
            with(sig.clone(), &[(SIGNATURE_KEY_TYPE, Some("ECC_SECT571K1"))]),
            vec![(UnknownSignatureKeyType, Some(SIGNATURE_KEY_TYPE))],
        ),
        (
            "lower-case key type",
            with(sig.clone(), &[(SIGNATURE_KEY_TYPE, Some("rsa-pss"))]),
            vec![(UnknownSignatureKeyType, Some(SIGNATURE_KEY_TYPE))],
        ),
        (
            "bad base64",
            with(sig.clone(), &[(SIGNATURE, Some("c2lnI"))]),
            vec![(BadSignatureEncoding, Some(SIGNATURE))],
        ),
        (
            "missing padding",
            with(sig.clone(), &[(SIGNATURE, Some("c2lnIQ"))]),
            vec![(BadSignatureEncoding, Some(SIGNATURE))],
        ),
        (
            "non-ascii signature",
            with(sig.clone(), &[(SIGNATURE, Some("c2ln\u{00e9}IQ=="))]),
            vec![(BadSignatureEncoding, Some(SIGNATURE))],
        ),
        (
            "signature decodes empty",
            with(sig.clone(), &[(SIGNATURE, Some("===="))]),
            vec![(EmptySignature, Some(SIGNATURE))],
        ),
        (
            "wrapped signature is fine",
            with(sig.clone(), &[(SIGNATURE, Some("c2ln\nIQ==\n"))]),
            vec![],
        ),
        (
            "cert id with slash",
            with(
                sig.clone(),
                &[(SIGNATURE_CERTIFICATE_ID, Some("../etc/passwd"))],
            ),
            vec![(BadCertificateId, Some(SIGNATURE_CERTIFICATE_ID))],
        ),
        (
            "cert id with space",
            with(sig.clone(), &[(SIGNATURE_CERTIFICATE_ID, Some("a b"))]),
            vec![(BadCertificateId, Some(SIGNATURE_CERTIFICATE_ID))],
        ),
        (
            "cert id with backslash",
            with(sig.clone(), &[(SIGNATURE_CERTIFICATE_ID, Some("a\\b"))]),
            vec![(BadCertificateId, Some(SIGNATURE_CERTIFICATE_ID))],
        ),
        (
            "cert id too long",
            with(
                sig.clone(),
                &[(SIGNATURE_CERTIFICATE_ID, Some(&"a".repeat(256)))],
            ),
            vec![(BadCertificateId, Some(SIGNATURE_CERTIFICATE_ID))],
        ),
        (
            "cert id of 255 is fine",
            with(
                sig.clone(),
                &[(SIGNATURE_CERTIFICATE_ID, Some(&"a".repeat(255)))],
            ),
            vec![],
        ),
        (
            "declared digest",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha256")),
                    ("img_hash_value", Some(ABC_SHA256)),
                ],
            ),
            vec![],
        ),
        (
            "declared digest, upper case",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("SHA256")),
                    ("img_hash_value", Some(&ABC_SHA256.to_uppercase())),
                ],
            ),
            vec![],
        ),
        (
            "algo without value",
            with(sig.clone(), &[("img_hash_algo", Some("sha256"))]),
            vec![(IncompleteDeclaredDigest, Some("img_hash_value"))],
        ),
        (
            "value without algo",
            with(sig.clone(), &[("img_hash_value", Some(ABC_SHA256))]),
            vec![(IncompleteDeclaredDigest, Some("img_hash_algo"))],
        ),
        (
            "unknown algo",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("whirlpool")),
                    ("img_hash_value", Some(ABC_SHA256)),
                ],
            ),
            vec![(UnknownHashAlgorithm, Some("img_hash_algo"))],
        ),
        (
            "md5 not allowed",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("md5")),
                    ("img_hash_value", Some("900150983cd24fb0d6963f7d28e17f72")),
                ],
            ),
            vec![(DisallowedHashAlgorithm, Some("img_hash_algo"))],
        ),
        (
            "sha1 not allowed",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha1")),
                    (
                        "img_hash_value",
                        Some("a9993e364706816aba3e25717850c26c9cd0d89d"),
                    ),
                ],
            ),
            vec![(DisallowedHashAlgorithm, Some("img_hash_algo"))],
        ),
        (
            "value too short",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha256")),
                    ("img_hash_value", Some(&ABC_SHA256[..62])),
                ],
            ),
            vec![(BadHashValue, Some("img_hash_value"))],
        ),
        (
            "value of another algorithm",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha512")),
                    ("img_hash_value", Some(ABC_SHA256)),
                ],
            ),
            vec![(BadHashValue, Some("img_hash_value"))],
        ),
        (
            "value not hex",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha256")),
                    ("img_hash_value", Some(&format!("{}zz", &ABC_SHA256[..62]))),
                ],
            ),
            vec![(BadHashValue, Some("img_hash_value"))],
        ),
        (
            "value with spaces",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha256")),
                    ("img_hash_value", Some(&format!(" {ABC_SHA256}"))),
                ],
            ),
            vec![(BadHashValue, Some("img_hash_value"))],
        ),
        (
            "value with multibyte chars",
            with(
                sig.clone(),
                &[
                    ("img_hash_algo", Some("sha256")),
                    (
                        "img_hash_value",
                        Some(&format!("{}\u{e9}", &ABC_SHA256[..62])),
                    ),
                ],
            ),
            vec![(BadHashValue, Some("img_hash_value"))],
        ),
    ];
    for (name, props, expected) in cases {
        let v = check_properties(&props, &policy(), &[]);
        assert_eq!(codes(&v), expected, "case {name:?}: {:#?}", v.problems);
        for p in &v.problems {
            assert!(!p.message.is_empty(), "case {name:?}");
        }
    }
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
    let v = check_properties(&props, &policy(), &[]);
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
        &[],
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
        &[],
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
    let v = check_properties(&signed(), &p, &[]);
    assert_eq!(
        codes(&v),
        vec![(DisallowedSignatureKeyType, Some(SIGNATURE_KEY_TYPE))]
    );
    assert!(v.problems[0].message.contains("ECC_SECP521R1"));
}

#[test]
fn policy_validation() {
    policy().validate().unwrap();
    let mut p = policy();
    p.allowed_key_types = vec!["ECC_SECT571K1".into()];
    assert!(matches!(p.validate(), Err(Error::Policy(m)) if m.contains("ECC_SECT571K1")));
    let mut p = policy();
    p.hash_value_property = p.hash_algo_property.clone();
    assert!(p.validate().is_err());
    let mut p = policy();
    p.hash_algo_property.clear();
    assert!(p.validate().is_err());
}

#[test]
fn signature_not_required_when_off_or_exempt() {
    let mut off = policy();
    off.require_signature = false;
    let v = check_properties(&BTreeMap::new(), &off, &[]);
    assert_eq!(v.problems, vec![]);
    assert!(!v.signature_required);

    let mut exempting = policy();
    exempting.exempt_roles = vec!["admin".into()];
    let v = check_properties(
        &BTreeMap::new(),
        &exempting,
        &["member".into(), "admin".into()],
    );
    assert_eq!(v.problems, vec![]);
    assert!(!v.signature_required);
    let v = check_properties(&BTreeMap::new(), &exempting, &["member".into()]);
    assert_eq!(v.problems.len(), 4);
}

#[test]
fn exempt_imports_still_check_declared_digest_and_present_values() {
    let mut p = policy();
    p.exempt_roles = vec!["admin".into()];
    let props = with(
        BTreeMap::new(),
        &[
            (SIGNATURE_HASH_METHOD, Some("sha256")),
            ("img_hash_algo", Some("sha256")),
        ],
    );
    let v = check_properties(&props, &p, &["admin".into()]);
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
    let v = check_properties(&signed(), &p, &[]);
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
    let v = check_properties(&props, &p, &[]);
    assert_eq!(v.problems, vec![]);
    assert_eq!(v.plan.declared.unwrap().property, "x_value");
    // The default names are now ordinary properties.
    let props = with(signed(), &[("img_hash_algo", Some("sha256"))]);
    assert_eq!(check_properties(&props, &p, &[]).problems, vec![]);
}

#[test]
fn required_signature_properties_are_configurable() {
    let mut p = policy();
    p.required_signature_properties = vec![SIGNATURE.into(), "x_signer".into()];
    let v = check_properties(&with(signed(), &[(SIGNATURE_KEY_TYPE, None)]), &p, &[]);
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
    let v = check_properties(&props, &p, &[]);
    assert_eq!(v.plan.algorithms, vec![Algorithm::Sha256]);
}

fn digests_of(data: &[u8], plan: &Plan) -> FileDigests {
    hash_reader(data, &plan.algorithms, &HashOptions::default()).unwrap()
}

#[test]
fn declared_digest_matches_or_is_refused() {
    let props = with(
        signed(),
        &[
            ("img_hash_algo", Some("sha256")),
            ("img_hash_value", Some(&ABC_SHA256.to_uppercase())),
        ],
    );
    let plan = check_properties(&props, &policy(), &[]).plan;
    assert_eq!(check_digests(&plan, &digests_of(b"abc", &plan)), vec![]);

    let problems = check_digests(&plan, &digests_of(b"abd", &plan));
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].code, DigestMismatch);
    assert_eq!(problems[0].property.as_deref(), Some("img_hash_value"));
    assert!(
        problems[0].message.contains(ABC_SHA256),
        "{}",
        problems[0].message
    );
}

#[test]
fn no_declared_digest_nothing_to_compare() {
    let plan = check_properties(&signed(), &policy(), &[]).plan;
    assert_eq!(check_digests(&plan, &digests_of(b"abc", &plan)), vec![]);
}

#[test]
fn digest_missing_from_the_pass_is_a_refusal_not_a_pass() {
    let props = with(
        signed(),
        &[
            ("img_hash_algo", Some("sha256")),
            ("img_hash_value", Some(ABC_SHA256)),
        ],
    );
    let plan = check_properties(&props, &policy(), &[]).plan;
    let empty = hash_reader(&b"abc"[..], &[], &HashOptions::default()).unwrap();
    assert_eq!(check_digests(&plan, &empty)[0].code, DigestMismatch);
}

#[test]
fn problem_codes_serialize_kebab_case() {
    let v = check_properties(&BTreeMap::new(), &policy(), &[]);
    let json = serde_json::to_value(&v.problems[0]).unwrap();
    assert_eq!(json["code"], "missing-signature-property");
}

fn problem(code: ProblemCode, message: &str) -> Problem {
    Problem {
        code,
        property: None,
        message: message.into(),
    }
}

#[test]
fn refusal_message_folds_missing_properties_and_numbers_the_rest() {
    let problems = [
        problem(MissingSignatureProperty, "img_signature is missing"),
        problem(UnknownSignatureHashMethod, "hash method is odd."),
        problem(MissingSignatureProperty, "img_signature_key_type is empty"),
        problem(
            MissingSignatureProperty,
            "img_signature_certificate_uuid is missing",
        ),
        problem(DigestMismatch, "data does not match"),
    ];
    assert_eq!(
        refusal_message("42", &problems),
        "Image 42 was not imported: (1) this cloud imports only signed images, and \
         img_signature is missing, img_signature_key_type is empty and \
         img_signature_certificate_uuid is missing; (2) hash method is odd; \
         (3) data does not match. Fix what is named and import again."
    );
    assert_eq!(
        refusal_message("42", &problems[3..4]),
        "Image 42 was not imported: (1) this cloud imports only signed images, and \
         img_signature_certificate_uuid is missing. Fix what is named and import again."
    );
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
    let v = check_properties(&props, &policy(), &[]);
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
        &[],
    );
    assert_eq!(v.problems, vec![]);
}
