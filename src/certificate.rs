//! Rules for the signing certificate that are stricter than cursive's.
//!
//! cursive (and so Glance) checks only that the certificate's key is of the
//! right family (RSA, DSA, EC) for `img_signature_key_type`. It never
//! compares an EC key's curve with the key type (a P-256 key passes as
//! ECC_SECP384R1), never looks at the validity dates at upload, and takes
//! any RSA key size. [`check_certificate`] adds those checks, each one
//! switchable in the policy. Parsing is x509-parser's.

use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

use crate::plan::Signature;
use crate::policy::CertificatePolicy;
use crate::problem::{Problem, ProblemCode};

/// Curve OIDs of the ECC_* key types cursive can register.
const CURVES: &[(&str, &str)] = &[
    ("ECC_SECP384R1", "1.3.132.0.34"),
    ("ECC_SECP521R1", "1.3.132.0.35"),
    ("ECC_SECT409K1", "1.3.132.0.36"),
    ("ECC_SECT409R1", "1.3.132.0.37"),
    ("ECC_SECT571K1", "1.3.132.0.38"),
    ("ECC_SECT571R1", "1.3.132.0.39"),
];

/// Names for the curves a certificate may carry instead.
const CURVE_NAMES: &[(&str, &str)] = &[
    ("1.2.840.10045.3.1.7", "P-256 (secp256r1)"),
    ("1.3.132.0.33", "P-224 (secp224r1)"),
    ("1.3.132.0.34", "P-384 (secp384r1)"),
    ("1.3.132.0.35", "P-521 (secp521r1)"),
    ("1.2.840.10045.3.1.1", "P-192 (secp192r1)"),
];

fn curve_name(oid: &str) -> String {
    CURVE_NAMES
        .iter()
        .find(|(o, _)| *o == oid)
        .map_or_else(|| format!("the curve {oid}"), |(_, n)| (*n).to_owned())
}

/// Bits of a big-endian unsigned integer.
fn bits(be: &[u8]) -> u32 {
    let digits: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
    match digits.first() {
        None => 0,
        Some(first) => 8 * digits.len() as u32 - first.leading_zeros(),
    }
}

fn date(timestamp: i64) -> String {
    // ASN1Time renders as e.g. "Nov 26 14:47:43 2027 +00:00".
    x509_parser::time::ASN1Time::from_timestamp(timestamp)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| timestamp.to_string())
}

/// Checks the DER certificate that will verify `signature` against
/// `policy`, at `now` (seconds since the epoch). Returns every problem.
pub fn check_certificate(
    der: &[u8],
    signature: &Signature,
    policy: &CertificatePolicy,
    now: i64,
) -> Vec<Problem> {
    let id = &signature.certificate_id;
    let certificate = match X509Certificate::from_der(der) {
        Ok((_, c)) => c,
        Err(e) => {
            return vec![Problem::general(
                ProblemCode::CertificateUnusable,
                format!("the signing certificate {id} is not a valid X.509 certificate: {e}"),
            )]
        }
    };
    let mut problems = Vec::new();

    if policy.check_certificate_dates {
        let validity = certificate.validity();
        let (from, until) = (
            validity.not_before.timestamp(),
            validity.not_after.timestamp(),
        );
        if now < from {
            problems.push(Problem::general(
                ProblemCode::CertificateNotYetValid,
                format!(
                    "the signing certificate {id} is not valid before {}; sign with a certificate that is valid now",
                    date(from)
                ),
            ));
        } else if now > until {
            problems.push(Problem::general(
                ProblemCode::CertificateExpired,
                format!(
                    "the signing certificate {id} expired on {}; sign again with a current certificate",
                    date(until)
                ),
            ));
        }
    }

    let spki = certificate.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(key)) => {
            let size = bits(key.modulus);
            if size < policy.min_rsa_key_size {
                problems.push(Problem::general(
                    ProblemCode::KeyTooSmall,
                    format!(
                        "the RSA key of signing certificate {id} has {size} bits but this cloud requires at least {min}; \
                         make a new key (e.g. `openssl genrsa -out signing_key.pem 3072`), a certificate for it, \
                         have it added to the key manager, and sign the image again",
                        min = policy.min_rsa_key_size
                    ),
                ));
            }
        }
        Ok(PublicKey::EC(_)) if policy.require_curve_match => {
            let expected = CURVES.iter().find(|(k, _)| *k == signature.key_type);
            let actual = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string());
            if let Some((key_type, oid)) = expected {
                if actual.as_deref() != Some(*oid) {
                    problems.push(Problem::general(
                        ProblemCode::CurveMismatch,
                        format!(
                            "the signing certificate {id} holds a key on {} but img_signature_key_type is {key_type} ({}); \
                             set the key type of the key's curve or sign with a {} key",
                            actual.as_deref().map_or_else(|| "an unnamed curve".to_owned(), curve_name),
                            curve_name(oid),
                            curve_name(oid),
                        ),
                    ));
                }
            }
        }
        _ => {}
    }
    problems
}

#[cfg(test)]
mod tests;
