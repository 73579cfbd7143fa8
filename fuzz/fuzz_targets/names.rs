//! Algorithm and signature-hash-method names: parsing never panics and is
//! exactly "one of the registry's names, ignoring ASCII case".
#![no_main]

use glance_import_guard::algorithm::SIGNATURE_HASH_METHODS;
use glance_import_guard::Algorithm;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|name: &str| {
    let parsed = Algorithm::from_name(name);
    let expected = Algorithm::ALL
        .iter()
        .copied()
        .find(|a| a.name().eq_ignore_ascii_case(name));
    assert_eq!(parsed, expected);
    if let Some(a) = parsed {
        assert_eq!(name.len(), a.name().len());
    }
    let method = Algorithm::from_signature_hash_method(name);
    let expected = SIGNATURE_HASH_METHODS
        .iter()
        .find(|(m, _)| *m == name)
        .map(|(_, a)| *a);
    assert_eq!(method, expected);
});
