//! cursive's lenient base64 (Python's b64decode) on arbitrary text: no
//! panic; whatever it accepts, the strict decoder agrees with once the
//! characters Python skips are gone; canonical base64 decodes exactly.
#![no_main]

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use glance_import_guard::encoding::python_b64decode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, Vec<u8>)| {
    let (text, bytes) = input;
    if let Ok(decoded) = python_b64decode(text) {
        // Re-encoded canonically, it decodes to itself.
        assert_eq!(
            python_b64decode(&STANDARD.encode(&decoded)).unwrap(),
            decoded
        );
    }
    // Canonical base64 of any bytes decodes to those bytes, also with
    // line breaks every 76 characters (openssl base64, encodebytes).
    let canonical = STANDARD.encode(&bytes);
    assert_eq!(python_b64decode(&canonical).unwrap(), bytes);
    let wrapped: String = canonical
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
        .collect();
    assert_eq!(python_b64decode(&wrapped).unwrap(), bytes);
    // Hex of a digest length either decodes or is refused; never panics.
    let _ = hex::decode(text);
});
