//! The rules an image's properties must pass, and the plan for the one pass
//! over its bytes.
//!
//! [`check_properties`] looks at the properties only and returns *every*
//! problem at once plus a [`Plan`]: which digests the pass must compute and
//! what to compare them with. [`check_digests`] then compares the declared
//! digest with what the pass computed. To add a rule, add a [`ProblemCode`]
//! and a check in [`check_properties`], with a case in this file's tests.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::algorithm::{Algorithm, SIGNATURE_HASH_METHODS};
use crate::certificate::CertificatePolicy;
use crate::encoding::python_b64decode;
use crate::error::Error;
use crate::hasher::FileDigests;

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

/// What the operator configured, as plain data. The Python layer builds it
/// from the `[import_guard]` options and the installed cursive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Refuse images without a complete signature.
    pub require_signature: bool,
    /// Properties that must be present and non-empty when a signature is required.
    pub required_signature_properties: Vec<String>,
    /// Key types the installed cursive can verify.
    pub supported_key_types: Vec<String>,
    /// Key types the operator allows; empty means every supported one.
    pub allowed_key_types: Vec<String>,
    /// Refuse images without a declared digest.
    pub require_hash: bool,
    /// Property naming the declared digest's algorithm.
    pub hash_algo_property: String,
    /// Property holding the declared digest as hex.
    pub hash_value_property: String,
    /// Algorithms a declared digest may use.
    pub allowed_hash_algorithms: Vec<Algorithm>,
    /// Roles whose imports need no signature (a declared digest still counts).
    pub exempt_roles: Vec<String>,
    /// Extra digests to compute in the same pass (Glance's own
    /// `hashing_algorithm`, for the log). Names the registry does not know
    /// are skipped: they are Glance's business, not a reason to refuse.
    pub also_compute: Vec<String>,
    /// Rules for the signing certificate, stricter than cursive's.
    pub certificate: CertificatePolicy,
}

impl Policy {
    /// Checks the policy's own consistency.
    pub fn validate(&self) -> Result<(), Error> {
        if self.hash_algo_property.is_empty() || self.hash_value_property.is_empty() {
            return Err(Error::Policy(
                "hash_algo_property and hash_value_property must not be empty".into(),
            ));
        }
        if self.hash_algo_property == self.hash_value_property {
            return Err(Error::Policy(format!(
                "hash_algo_property and hash_value_property are both {:?}",
                self.hash_algo_property
            )));
        }
        let unknown: Vec<&str> = self
            .allowed_key_types
            .iter()
            .filter(|k| !self.supported_key_types.contains(k))
            .map(String::as_str)
            .collect();
        if !unknown.is_empty() {
            return Err(Error::Policy(format!(
                "allowed_key_types names {} which the installed cursive cannot verify (it supports {})",
                unknown.join(", "),
                self.supported_key_types.join(", ")
            )));
        }
        Ok(())
    }

    fn allowed_key_types(&self) -> &[String] {
        if self.allowed_key_types.is_empty() {
            &self.supported_key_types
        } else {
            &self.allowed_key_types
        }
    }
}

/// A stable code for each kind of problem; tests and tools match on these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemCode {
    /// A required signature property is absent or empty.
    MissingSignatureProperty,
    /// `img_signature_hash_method` is not one of cursive's four.
    UnknownSignatureHashMethod,
    /// `img_signature_key_type` is not one the installed cursive verifies.
    UnknownSignatureKeyType,
    /// `img_signature_key_type` is supported but not allowed by the operator.
    DisallowedSignatureKeyType,
    /// `img_signature` is not base64 to cursive's decoder.
    BadSignatureEncoding,
    /// `img_signature` decodes to nothing.
    EmptySignature,
    /// `img_signature_certificate_uuid` is not a usable key-manager id.
    BadCertificateId,
    /// Only one of the declared-digest properties is set.
    IncompleteDeclaredDigest,
    /// No declared digest although the operator requires one.
    MissingDeclaredDigest,
    /// The declared algorithm is not one the guard knows.
    UnknownHashAlgorithm,
    /// The declared algorithm is known but not allowed.
    DisallowedHashAlgorithm,
    /// The declared value is not hex of the algorithm's digest length.
    BadHashValue,
    /// The staged bytes do not have the declared digest.
    DigestMismatch,
    /// The signature does not verify over the staged bytes.
    SignatureMismatch,
    /// The signing certificate cannot be had or does not fit the key type.
    CertificateUnusable,
    /// The signing certificate is past its validity dates.
    CertificateExpired,
    /// The signing certificate is not valid yet.
    CertificateNotYetValid,
    /// The signing certificate does not chain to a trusted certificate.
    CertificateUntrusted,
    /// An EC key's curve is not the one `img_signature_key_type` names.
    CurveMismatch,
    /// The RSA key is smaller than the operator allows.
    KeyTooSmall,
    /// The staged data cannot be read.
    StagedDataUnreadable,
    /// The staged data changed while the guard read it.
    StagedDataChanged,
    /// A property the guard reads is longer than it accepts.
    PropertyTooLong,
    /// The guard's own configuration is invalid (the operator must act).
    GuardMisconfigured,
    /// The guard failed unexpectedly (a bug, or a library it calls
    /// raised); the glance-api log has the details.
    GuardFailed,
}

/// One reason to refuse an import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub code: ProblemCode,
    /// The image property at fault, if one is.
    pub property: Option<String>,
    /// A sentence for the user: what is wrong and what to do.
    pub message: String,
}

impl Problem {
    fn new(code: ProblemCode, property: &str, message: String) -> Self {
        Problem {
            code,
            property: Some(property.to_owned()),
            message,
        }
    }
}

/// The digest the uploader declared, normalised to lower-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclaredDigest {
    pub algorithm: Algorithm,
    pub value: String,
    /// The property it came from, for messages.
    pub property: String,
}

/// A signature that passed every property rule, ready to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The digest the signature is made over (from the hash method).
    pub hash: Algorithm,
    pub hash_method: String,
    pub key_type: String,
    pub certificate_id: String,
    /// The decoded signature bytes.
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// What the one pass over the staged bytes must produce.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Every digest to compute, each once.
    pub algorithms: Vec<Algorithm>,
    pub declared: Option<DeclaredDigest>,
    pub signature: Option<Signature>,
}

/// The outcome of checking the properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Empty when the properties pass.
    pub problems: Vec<Problem>,
    /// False when the import's roles exempt it (or signatures are not required).
    pub signature_required: bool,
    pub plan: Plan,
}

/// A property value as shown in messages: quoted, escaped, and cut short so a
/// 64 KiB value cannot flood a message or a log line.
fn shown(value: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = value
        .chars()
        .take(MAX)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if value.chars().count() > MAX {
        out.push_str("...");
    }
    format!("'{out}'")
}

/// The value of `name` if it is present and not empty or blank.
fn present<'a>(properties: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    properties
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
}

/// Checks `properties` against `policy` for an import made with `roles`.
pub fn check_properties(
    properties: &BTreeMap<String, String>,
    policy: &Policy,
    roles: &[String],
) -> Verdict {
    let mut problems = Vec::new();
    let too_long = check_lengths(properties, policy, &mut problems);
    // A present value the guard will look into: not blank, not too long.
    let usable = |name: &str| present(properties, name).filter(|_| !too_long.contains(name));
    let exempt = roles.iter().any(|r| policy.exempt_roles.contains(r));
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

    Verdict {
        problems,
        signature_required,
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

/// Compares the declared digest with what the pass computed, in constant
/// time. Returns the problems (at most one today).
pub fn check_digests(plan: &Plan, digests: &FileDigests) -> Vec<Problem> {
    let Some(declared) = &plan.declared else {
        return Vec::new();
    };
    let Some(actual) = digests.digests.get(&declared.algorithm) else {
        // The plan asked for it, so the pass computed it; a caller that
        // passes other digests gets a refusal, never a silent pass.
        return vec![Problem::new(
            ProblemCode::DigestMismatch,
            &declared.property,
            format!(
                "the {} digest of the data was not computed",
                declared.algorithm
            ),
        )];
    };
    // `value` was checked to be hex of the right length when the plan was made.
    let expected = hex::decode(&declared.value).unwrap_or_default();
    if bool::from(expected.ct_eq(actual)) {
        return Vec::new();
    }
    vec![Problem::new(
        ProblemCode::DigestMismatch,
        &declared.property,
        format!(
            "the image data does not match {}: its {} digest is {}, not the declared {} (the data is {} bytes)",
            declared.property,
            declared.algorithm,
            hex::encode(actual),
            declared.value,
            digests.bytes
        ),
    )]
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The one message a refused import gets: the image id, then every problem
/// numbered, missing signature properties folded into one sentence.
pub fn refusal_message(image_id: &str, problems: &[Problem]) -> String {
    let mut reasons = Vec::new();
    let missing: Vec<&Problem> = problems
        .iter()
        .filter(|p| p.code == ProblemCode::MissingSignatureProperty)
        .collect();
    if !missing.is_empty() {
        let messages: Vec<&str> = missing.iter().map(|p| p.message.as_str()).collect();
        reasons.push(format!(
            "this cloud imports only signed images, and {}",
            and_list(&messages)
        ));
    }
    reasons.extend(
        problems
            .iter()
            .filter(|p| p.code != ProblemCode::MissingSignatureProperty)
            .map(|p| p.message.trim_end_matches('.').to_owned()),
    );
    let numbered: Vec<String> = reasons
        .iter()
        .enumerate()
        .map(|(i, r)| format!("({}) {r}", i + 1))
        .collect();
    format!(
        "Image {image_id} was not imported: {}. Fix what is named and import again.",
        numbered.join("; ")
    )
}

#[cfg(test)]
mod tests;
