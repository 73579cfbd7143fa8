//! The certificate rules on arbitrary DER: never a panic, and anything
//! unparsable is reported as unusable.
#![no_main]

use glance_import_guard::Signature;
use glance_import_guard::{check_certificate, Algorithm, CertificatePolicy, ProblemCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&[u8], u8, i64)| {
    let (der, key_type, now) = input;
    let key_types = ["RSA-PSS", "DSA", "ECC_SECP384R1", "ECC_SECP521R1"];
    let signature = Signature {
        hash: Algorithm::Sha256,
        hash_method: "SHA-256".into(),
        key_type: key_types[key_type as usize % key_types.len()].into(),
        certificate_id: "fuzz".into(),
        signature: vec![0],
    };
    let policy = CertificatePolicy {
        require_curve_match: true,
        check_certificate_dates: true,
        min_rsa_key_size: 2048,
    };
    for p in check_certificate(der, &signature, &policy, now) {
        assert!(p.message.contains("fuzz"));
        assert!(p.code != ProblemCode::DigestMismatch);
    }
});
