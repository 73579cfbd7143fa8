//! The property rules on arbitrary property maps, exemptions and policy
//! switches: no panic, and the verdict is self-consistent.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use glance_import_guard::rules::SIGNATURE_PROPERTIES;
use glance_import_guard::{
    check_digests, check_properties, hash_reader, refusal_message, Action, Algorithm,
    CertificatePolicy, HashOptions, Policy,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    properties: Vec<(String, String)>,
    /// Values for the guard's own properties, to reach deep into the rules.
    signature: Option<String>,
    hash_method: Option<String>,
    key_type: Option<String>,
    certificate_id: Option<String>,
    hash_algo: Option<String>,
    hash_value: Option<String>,
    require_signature: bool,
    require_hash: bool,
    exempt: bool,
    data: Vec<u8>,
}

fuzz_target!(|input: Input| {
    let mut properties: BTreeMap<String, String> = input.properties.into_iter().collect();
    for (name, value) in [
        ("img_signature", input.signature),
        ("img_signature_hash_method", input.hash_method),
        ("img_signature_key_type", input.key_type),
        ("img_signature_certificate_uuid", input.certificate_id),
        ("img_hash_algo", input.hash_algo),
        ("img_hash_value", input.hash_value),
    ] {
        if let Some(v) = value {
            properties.insert(name.into(), v);
        }
    }
    let policy = Policy {
        require_signature: input.require_signature,
        required_signature_properties: SIGNATURE_PROPERTIES.iter().map(|s| s.to_string()).collect(),
        supported_key_types: ["DSA", "ECC_SECP384R1", "ECC_SECP521R1", "RSA-PSS"]
            .map(String::from)
            .to_vec(),
        allowed_key_types: vec![],
        require_hash: input.require_hash,
        hash_algo_property: "img_hash_algo".into(),
        hash_value_property: "img_hash_value".into(),
        allowed_hash_algorithms: Algorithm::ALL.to_vec(),
        also_compute: vec!["sha512".into()],
        certificate: CertificatePolicy {
            require_curve_match: true,
            check_certificate_dates: true,
            min_rsa_key_size: 2048,
        },
    };
    let verdict = check_properties(&properties, &policy, input.exempt);
    for p in &verdict.problems {
        assert!(!p.message.is_empty());
    }
    if verdict.problems.is_empty() && verdict.signature_required {
        assert!(
            verdict.plan.signature.is_some(),
            "signed import without a signature plan"
        );
    }
    if let Some(d) = &verdict.plan.declared {
        assert_eq!(d.value.len(), 2 * d.algorithm.digest_len());
        assert!(d
            .value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(verdict.plan.algorithms.contains(&d.algorithm));
    }
    if let Some(s) = &verdict.plan.signature {
        assert!(!s.signature.is_empty());
        assert!(verdict.plan.algorithms.contains(&s.hash));
    }
    let digests = hash_reader(
        &input.data[..],
        &verdict.plan.algorithms,
        &HashOptions::default(),
    )
    .unwrap();
    let mut problems = verdict.problems.clone();
    problems.extend(check_digests(&verdict.plan, &digests));
    if !problems.is_empty() {
        let message = refusal_message("image", &problems, Action::Import);
        assert!(message.starts_with("Image image was not imported: (1) "));
    }
});
