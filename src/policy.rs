//! The policy: what the operator configured in `[import_guard]`, as plain
//! data, and its validation. The Python layer builds it from the options and
//! the installed cursive; a `Guard` is built from it once.

use serde::{Deserialize, Serialize};

use crate::algorithm::Algorithm;
use crate::error::Error;

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

    /// The key types accepted: the allowed ones, or every supported one.
    pub(crate) fn allowed_key_types(&self) -> &[String] {
        if self.allowed_key_types.is_empty() {
            &self.supported_key_types
        } else {
            &self.allowed_key_types
        }
    }
}

/// The certificate rules the operator chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificatePolicy {
    /// An EC key's curve must be the one `img_signature_key_type` names.
    pub require_curve_match: bool,
    /// The certificate must be within its validity dates at import.
    pub check_certificate_dates: bool,
    /// Smallest RSA modulus, in bits (0: any).
    pub min_rsa_key_size: u32,
}

#[cfg(test)]
mod tests;
