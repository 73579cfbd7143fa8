//! Decoding `img_signature` exactly as cursive does.
//!
//! cursive decodes the property with oslo.serialization's `decode_as_bytes`,
//! which is Python's lenient `base64.b64decode` (`binascii.a2b_base64` with
//! `strict_mode=False`). That decoder skips every byte outside the base64
//! alphabet (so `openssl base64`'s line breaks are fine), stops at the first
//! complete padding, and rejects a string whose data characters do not form
//! whole quads unless padding closed them. A guard that decoded more strictly
//! would refuse signatures Glance accepts today; one that decoded more loosely
//! would accept signatures cursive then fails.
//!
//! The scan below only decides *which* characters CPython would decode; the
//! decoding itself is the `base64` crate's.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// Why a value is not base64 to Python's lenient decoder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Base64Error {
    /// `str.encode('ascii')` fails before any decoding happens.
    #[error("contains a non-ASCII character at position {position}")]
    NonAscii { position: usize },
    /// CPython: "number of data characters (N) cannot be 1 more than a multiple of 4".
    #[error("has {count} base64 data characters, which cannot be 1 more than a multiple of 4")]
    StrayCharacter { count: usize },
    /// CPython: "Incorrect padding".
    #[error("has incorrect padding ({count} base64 data characters and no closing '=')")]
    IncorrectPadding { count: usize },
}

/// The data characters' decoder: standard alphabet, the padding already
/// consumed by the scan, and unused low bits of the last character ignored as
/// CPython ignores them.
const DATA: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

fn is_alphabet(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// Decodes `value` as Python's `base64.b64decode(value)` would.
pub fn python_b64decode(value: &str) -> Result<Vec<u8>, Base64Error> {
    if let Some(position) = value.chars().position(|c| !c.is_ascii()) {
        return Err(Base64Error::NonAscii { position });
    }
    // Mirrors CPython's binascii.a2b_base64 loop (non-strict mode): `quad`
    // is the position inside the current 4-character group, `pads` counts
    // '=' seen since the last data character.
    let mut data = Vec::with_capacity(value.len());
    let mut quad = 0usize;
    let mut pads = 0usize;
    let mut closed_by_padding = false;
    for b in value.bytes() {
        if b == b'=' {
            if quad >= 2 {
                pads += 1;
                if quad + pads >= 4 {
                    closed_by_padding = true;
                    break;
                }
            }
            continue;
        }
        if !is_alphabet(b) {
            continue;
        }
        data.push(b);
        pads = 0;
        quad = (quad + 1) % 4;
    }
    if !closed_by_padding {
        match quad {
            0 => {}
            1 => return Err(Base64Error::StrayCharacter { count: data.len() }),
            _ => return Err(Base64Error::IncorrectPadding { count: data.len() }),
        }
    }
    // `data` now holds whole quads plus, only when padding closed it, a final
    // group of 2 or 3 characters: always decodable.
    Ok(DATA
        .decode(&data)
        .expect("the scan leaves only complete base64 groups"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values below are what CPython 3.11's base64.b64decode returns;
    // tests/unit/test_core.py checks the same decoder against Python itself on
    // odd inputs and a generated (hypothesis) corpus.
    #[test]
    fn plain_and_wrapped() {
        assert_eq!(python_b64decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(python_b64decode("aGVs\nbG8=\n").unwrap(), b"hello");
        assert_eq!(python_b64decode(" a G V s b G 8 = ").unwrap(), b"hello");
        assert_eq!(python_b64decode("").unwrap(), b"");
    }

    #[test]
    fn non_alphabet_characters_are_dropped() {
        assert_eq!(python_b64decode("aGVs-_bG8=").unwrap(), b"hello");
        assert_eq!(python_b64decode("a!G@V#s$b%G^8&=").unwrap(), b"hello");
    }

    #[test]
    fn padding() {
        assert_eq!(
            python_b64decode("aGVsbG8"),
            Err(Base64Error::IncorrectPadding { count: 7 })
        );
        assert_eq!(
            python_b64decode("aGVsb"),
            Err(Base64Error::StrayCharacter { count: 5 })
        );
        // Decoding stops at the first complete padding.
        assert_eq!(python_b64decode("aGk=aGVsbG8=").unwrap(), b"hi");
        assert_eq!(python_b64decode("aA==garbage").unwrap(), b"h");
        // '=' before two data characters of a group is skipped.
        assert_eq!(python_b64decode("=a=A==").unwrap(), b"h");
        // A lone '=' after two data characters does not close the group.
        assert_eq!(python_b64decode("QQ=A=").unwrap(), b"A\0");
        assert_eq!(python_b64decode("====").unwrap(), b"");
    }

    #[test]
    fn trailing_bits_are_ignored() {
        assert_eq!(python_b64decode("aB==").unwrap(), b"h");
    }

    #[test]
    fn non_ascii_is_refused_with_position() {
        assert_eq!(
            python_b64decode("aGVs\u{e9}bG8="),
            Err(Base64Error::NonAscii { position: 4 })
        );
    }
}
