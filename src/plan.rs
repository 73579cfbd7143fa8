//! The plan for the one pass over an image's bytes (which digests, what to
//! compare them with, which signature to verify) and the comparison of the
//! declared digest with what the pass computed.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::algorithm::Algorithm;
use crate::hasher::FileDigests;
use crate::problem::{Problem, ProblemCode};

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
    /// False when the caller is exempt (or signatures are not required).
    pub signature_required: bool,
    /// Whether reading the data can add anything: the properties pass, or
    /// a well-formed digest was declared (so the user learns at once
    /// whether the bytes match too). False: refuse without reading.
    pub read_data: bool,
    pub plan: Plan,
}

/// The outcome of the pass over a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileVerdict {
    /// The pass, or None when the file could not be read to the end
    /// unchanged (the problems say so).
    pub digests: Option<FileDigests>,
    pub problems: Vec<Problem>,
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

#[cfg(test)]
mod tests;
