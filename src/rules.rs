//! The rules an image's properties must pass.
//!
//! [`check_properties`] looks at the properties only and returns *every*
//! problem at once plus a [`Plan`]: which digests the pass must compute and
//! what to compare them with (`plan.rs` then compares the declared digest
//! with what the pass computed). To add a rule, add a code in `problem.rs`
//! and a check in [`check_properties`], with a case in this module's
//! tests.

use std::collections::{BTreeMap, BTreeSet};

use crate::algorithm::{Algorithm, SIGNATURE_HASH_METHODS};
use crate::encoding::python_b64decode;
use crate::plan::{DeclaredDigest, Plan, Signature, Verdict};
use crate::policy::Policy;
use crate::problem::{shown, Problem, ProblemCode};

/// cursive's property names.
pub const SIGNATURE: &str = "img_signature";
pub const SIGNATURE_HASH_METHOD: &str = "img_signature_hash_method";
pub const SIGNATURE_KEY_TYPE: &str = "img_signature_key_type";
pub const SIGNATURE_CERTIFICATE_ID: &str = "img_signature_certificate_uuid";
/// The four together: Glance verifies a signature only when all are present.
pub const SIGNATURE_PROPERTIES: [&str; 4] = [
    SIGNATURE,
    SIGNATURE_HASH_METHOD,
    SIGNATURE_KEY_TYPE,
    SIGNATURE_CERTIFICATE_ID,
];

/// Longest certificate id accepted (Barbican's ids are 36-character UUIDs).
pub const MAX_CERTIFICATE_ID_LEN: usize = 255;

/// Longest `img_signature` accepted, in bytes. The longest signature Glance
/// can verify, RSA-PSS with a 16384-bit key, is 2048 bytes: 2732 in base64,
/// about 2800 with line breaks.
pub const MAX_SIGNATURE_LEN: usize = 16 * 1024;

/// Longest value of every other property the guard reads, in bytes. Glance
/// itself stores values of a megabyte and more; the guard refuses such a
/// value before decoding, parsing or copying it.
pub const MAX_PROPERTY_LEN: usize = 1024;

/// The value of `name` if it is present and not empty or blank.
fn present<'a>(properties: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    properties
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// Checks `properties` against `policy` for an import by a caller who is
/// `exempt` from the signature requirement or not. Who is exempt is the
/// caller's decision (Glance's policy, in the Python layer); an exempt
/// import is still held to a declared digest and to the values of the
/// signature properties it sets.
pub fn check_properties(
    properties: &BTreeMap<String, String>,
    policy: &Policy,
    exempt: bool,
) -> Verdict {
    let mut problems = Vec::new();
    let too_long = check_lengths(properties, policy, &mut problems);
    // A present value the guard will look into: not blank, not too long.
    let usable = |name: &str| present(properties, name).filter(|_| !too_long.contains(name));
    let signature_required = policy.require_signature && !exempt;

    if signature_required {
        for name in &policy.required_signature_properties {
            if present(properties, name).is_none() {
                let state = if properties.contains_key(name) {
                    "is empty"
                } else {
                    "is missing"
                };
                problems.push(Problem::new(
                    ProblemCode::MissingSignatureProperty,
                    name,
                    format!("{name} {state}"),
                ));
            }
        }
    }

    // Values that are present are checked whether or not a signature is
    // required: a malformed one is never intended, and Glance would refuse a
    // complete-but-malformed set only after copying the data to a store.
    let hash = usable(SIGNATURE_HASH_METHOD).and_then(|v| check_hash_method(v, &mut problems));
    let key_type =
        usable(SIGNATURE_KEY_TYPE).and_then(|v| check_key_type(v, policy, &mut problems));
    let signature = usable(SIGNATURE).and_then(|v| check_signature(v, &mut problems));
    let certificate_id =
        usable(SIGNATURE_CERTIFICATE_ID).and_then(|v| check_certificate_id(v, &mut problems));

    let declared = if too_long.contains(policy.hash_algo_property.as_str())
        || too_long.contains(policy.hash_value_property.as_str())
    {
        None
    } else {
        check_declared_digest(properties, policy, &mut problems)
    };

    let signature = match (hash, key_type, signature, certificate_id) {
        (Some(hash), Some(key_type), Some(signature), Some(certificate_id)) => Some(Signature {
            hash,
            hash_method: properties[SIGNATURE_HASH_METHOD].clone(),
            key_type: key_type.to_owned(),
            certificate_id: certificate_id.to_owned(),
            signature,
        }),
        _ => None,
    };

    let mut algorithms = BTreeSet::new();
    if let Some(d) = &declared {
        algorithms.insert(d.algorithm);
    }
    if let Some(s) = &signature {
        algorithms.insert(s.hash);
    }
    for name in &policy.also_compute {
        match Algorithm::from_name(name) {
            Some(a) => {
                algorithms.insert(a);
            }
            None => log::debug!("not computing {name:?}: the guard does not know that algorithm"),
        }
    }

    let read_data = problems.is_empty() || declared.is_some();
    Verdict {
        problems,
        signature_required,
        read_data,
        plan: Plan {
            algorithms: algorithms.into_iter().collect(),
            declared,
            signature,
        },
    }
}

/// Reports every property the guard reads whose value is longer than it
/// accepts; returns their names.
fn check_lengths<'a>(
    properties: &BTreeMap<String, String>,
    policy: &'a Policy,
    problems: &mut Vec<Problem>,
) -> BTreeSet<&'a str> {
    let mut read: Vec<&str> = SIGNATURE_PROPERTIES.to_vec();
    read.extend(
        policy
            .required_signature_properties
            .iter()
            .map(String::as_str),
    );
    read.push(&policy.hash_algo_property);
    read.push(&policy.hash_value_property);
    let mut too_long = BTreeSet::new();
    for name in read {
        let limit = if name == SIGNATURE {
            MAX_SIGNATURE_LEN
        } else {
            MAX_PROPERTY_LEN
        };
        let len = properties.get(name).map_or(0, String::len);
        if len > limit && too_long.insert(name) {
            problems.push(Problem::new(
                ProblemCode::PropertyTooLong,
                name,
                format!("{name} is {len} bytes long; the guard accepts at most {limit}"),
            ));
        }
    }
    too_long
}

fn check_hash_method(value: &str, problems: &mut Vec<Problem>) -> Option<Algorithm> {
    if let Some(a) = Algorithm::from_signature_hash_method(value) {
        return Some(a);
    }
    let methods: Vec<&str> = SIGNATURE_HASH_METHODS.iter().map(|(n, _)| *n).collect();
    let hint = methods
        .iter()
        .find(|m| {
            m.eq_ignore_ascii_case(value) || m.replace('-', "").eq_ignore_ascii_case(value.trim())
        })
        .map(|m| format!(" (names are case-sensitive: use '{m}')"))
        .unwrap_or_default();
    problems.push(Problem::new(
        ProblemCode::UnknownSignatureHashMethod,
        SIGNATURE_HASH_METHOD,
        format!(
            "{SIGNATURE_HASH_METHOD} {} is not one of {}{hint}",
            shown(value),
            methods.join(", ")
        ),
    ));
    None
}

fn check_key_type<'a>(
    value: &'a str,
    policy: &Policy,
    problems: &mut Vec<Problem>,
) -> Option<&'a str> {
    let allowed = policy.allowed_key_types();
    if allowed.iter().any(|k| k == value) {
        return Some(value);
    }
    let (code, what) = if policy.supported_key_types.iter().any(|k| k == value) {
        (
            ProblemCode::DisallowedSignatureKeyType,
            "is not allowed on this cloud",
        )
    } else {
        (
            ProblemCode::UnknownSignatureKeyType,
            "is not a key type Glance can verify",
        )
    };
    problems.push(Problem::new(
        code,
        SIGNATURE_KEY_TYPE,
        format!(
            "{SIGNATURE_KEY_TYPE} {} {what}; use one of {} (case-sensitive)",
            shown(value),
            allowed.join(", ")
        ),
    ));
    None
}

fn check_signature(value: &str, problems: &mut Vec<Problem>) -> Option<Vec<u8>> {
    match python_b64decode(value) {
        Ok(bytes) if !bytes.is_empty() => Some(bytes),
        Ok(_) => {
            problems.push(Problem::new(
                ProblemCode::EmptySignature,
                SIGNATURE,
                format!("{SIGNATURE} {} decodes to an empty signature", shown(value)),
            ));
            None
        }
        Err(e) => {
            problems.push(Problem::new(
                ProblemCode::BadSignatureEncoding,
                SIGNATURE,
                format!(
                    "{SIGNATURE} is not valid base64: it {e}; set it to the base64 of the signature file (e.g. `base64 -w 0 image.sig`)"
                ),
            ));
            None
        }
    }
}

fn check_certificate_id<'a>(value: &'a str, problems: &mut Vec<Problem>) -> Option<&'a str> {
    let why = if value.chars().count() > MAX_CERTIFICATE_ID_LEN {
        Some(format!(
            "is longer than {MAX_CERTIFICATE_ID_LEN} characters"
        ))
    } else if value.chars().any(char::is_whitespace) {
        Some("contains whitespace".to_owned())
    } else if value.contains(['/', '\\']) {
        Some("contains a path separator".to_owned())
    } else if value.chars().any(char::is_control) {
        Some("contains a control character".to_owned())
    } else {
        None
    };
    match why {
        None => Some(value),
        Some(why) => {
            problems.push(Problem::new(
                ProblemCode::BadCertificateId,
                SIGNATURE_CERTIFICATE_ID,
                format!(
                    "{SIGNATURE_CERTIFICATE_ID} {} {why}; it must be the id of the signing certificate in the key manager",
                    shown(value)
                ),
            ));
            None
        }
    }
}

fn check_declared_digest(
    properties: &BTreeMap<String, String>,
    policy: &Policy,
    problems: &mut Vec<Problem>,
) -> Option<DeclaredDigest> {
    let algo_name = &policy.hash_algo_property;
    let value_name = &policy.hash_value_property;
    let (algo, value) = match (
        present(properties, algo_name),
        present(properties, value_name),
    ) {
        (None, None) => {
            if policy.require_hash {
                problems.push(Problem::new(
                    ProblemCode::MissingDeclaredDigest,
                    value_name,
                    format!(
                        "this cloud requires a declared digest: set {algo_name} (one of {}) and {value_name} (its hex digest of the image file)",
                        allowed_names(policy)
                    ),
                ));
            }
            return None;
        }
        (Some(_), None) | (None, Some(_)) => {
            let (set, unset) = if present(properties, algo_name).is_some() {
                (algo_name, value_name)
            } else {
                (value_name, algo_name)
            };
            problems.push(Problem::new(
                ProblemCode::IncompleteDeclaredDigest,
                unset,
                format!("{set} is set but {unset} is not; set both or neither"),
            ));
            return None;
        }
        (Some(algo), Some(value)) => (algo, value),
    };

    let Some(algorithm) = Algorithm::from_name(algo) else {
        problems.push(Problem::new(
            ProblemCode::UnknownHashAlgorithm,
            algo_name,
            format!(
                "{algo_name} {} is not a known digest algorithm; use one of {}",
                shown(algo),
                allowed_names(policy)
            ),
        ));
        return None;
    };
    if !policy.allowed_hash_algorithms.contains(&algorithm) {
        problems.push(Problem::new(
            ProblemCode::DisallowedHashAlgorithm,
            algo_name,
            format!(
                "{algo_name} {} is not allowed on this cloud; use one of {}",
                shown(algo),
                allowed_names(policy)
            ),
        ));
        return None;
    }

    let expected_len = 2 * algorithm.digest_len();
    let why = if value.len() != expected_len {
        Some(format!(
            "has {} characters but a {} digest is {expected_len} hex characters",
            value.chars().count(),
            algorithm
        ))
    } else if let Some((i, c)) = value.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        Some(format!("has the non-hex character {c:?} at position {i}"))
    } else {
        None
    };
    if let Some(why) = why {
        problems.push(Problem::new(
            ProblemCode::BadHashValue,
            value_name,
            format!("{value_name} {} {why}", shown(value)),
        ));
        return None;
    }
    Some(DeclaredDigest {
        algorithm,
        value: value.to_ascii_lowercase(),
        property: value_name.clone(),
    })
}

fn allowed_names(policy: &Policy) -> String {
    policy
        .allowed_hash_algorithms
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
pub(crate) mod tests;
