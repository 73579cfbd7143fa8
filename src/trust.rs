//! Does the signing certificate chain to a certificate the cloud trusts?
//!
//! The semantics are those of cursive's `verify_certificate` as fixed in
//! cursive 0.3.1 (the check Nova runs at boot with
//! `enable_certificate_validation`, and what `trusted_certificate_ids`
//! promises), with its three checks on, as Nova calls it:
//!
//! - A trusted certificate serves as an issuer only if it is within its
//!   validity dates and has a basicConstraints extension with `CA:TRUE` and
//!   a keyUsage extension with `keyCertSign`; others are skipped (a log
//!   line says why).
//! - The signing certificate must be within its validity dates.
//! - The chain is built upwards: the issuer of a certificate is the first
//!   usable trusted certificate whose subject equals the certificate's
//!   issuer name (attribute by attribute, as `cryptography`'s `Name`
//!   compares) and whose key verifies the certificate's signature (RSA with
//!   PKCS#1 v1.5, ECDSA or DSA, as cursive verifies it). It ends at a
//!   self-signed trusted certificate.
//! - Path lengths: each certificate of the chain but the last whose
//!   `pathLenConstraint` is set must allow the intermediates below it; a
//!   CA with `pathLenConstraint` 0 may issue the signing certificate
//!   directly. A CA without the constraint allows any length.
//!
//! Why the guard does not call cursive: cursive before 0.3.1 (0.2.3 in the
//! 2024.1 to 2026.1 upper-constraints, 0.3.0 in master's) compares
//! `path_length < chain_length` without checking for `None`, and so raises
//! `TypeError` for any CA certificate without a pathLenConstraint (the
//! common case).
//! Where the fixed cursive would loop forever (two trusted CAs that issued
//! each other), the guard refuses the chain instead.

use openssl::x509::X509;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::X509Name;

use crate::rules::{Problem, ProblemCode};

/// Longest chain followed, the signing certificate included.
pub const MAX_CHAIN_LENGTH: usize = 16;

/// RSASSA-PSS: cursive verifies certificate signatures with PKCS#1 v1.5
/// only, so a PSS-signed certificate has no issuer in its eyes.
const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

/// A certificate as both parsers see it.
struct Parsed<'a> {
    id: &'a str,
    der: &'a [u8],
    x509: X509Certificate<'a>,
}

impl<'a> Parsed<'a> {
    fn new(id: &'a str, der: &'a [u8]) -> Result<Self, String> {
        match X509Certificate::from_der(der) {
            Ok((_, x509)) => Ok(Parsed { id, der, x509 }),
            Err(e) => Err(format!("not a valid X.509 certificate: {e}")),
        }
    }

    fn within_dates(&self, now: i64) -> bool {
        let validity = self.x509.validity();
        validity.not_before.timestamp() <= now && now <= validity.not_after.timestamp()
    }

    /// Why this certificate cannot sign others, if it cannot.
    fn cannot_sign_certificates(&self) -> Option<&'static str> {
        let ca = match self.x509.basic_constraints() {
            Ok(Some(bc)) => bc.value.ca,
            Ok(None) => return Some("it has no basic constraints extension"),
            Err(_) => return Some("its basic constraints extension is malformed"),
        };
        let cert_sign = match self.x509.key_usage() {
            Ok(Some(ku)) => ku.value.key_cert_sign(),
            Ok(None) => return Some("it has no key usage extension"),
            Err(_) => return Some("its key usage extension is malformed"),
        };
        match (ca, cert_sign) {
            (true, true) => None,
            (false, _) => Some("it is not marked as a CA in its basic constraints"),
            (true, false) => Some("its key usage does not include keyCertSign"),
        }
    }

    fn path_length(&self) -> Option<u32> {
        match self.x509.basic_constraints() {
            Ok(Some(bc)) => bc.value.path_len_constraint,
            _ => None,
        }
    }
}

/// A distinguished name as `cryptography` compares it: the sequence of
/// RDNs, each a set of (type, value) pairs; string values by their text,
/// others by their bytes.
fn name_key(name: &X509Name<'_>) -> Vec<Vec<(String, Vec<u8>)>> {
    name.iter_rdn()
        .map(|rdn| {
            let mut set: Vec<(String, Vec<u8>)> = rdn
                .iter()
                .map(|atv| {
                    let value = atv
                        .as_str()
                        .map_or_else(|_| atv.as_slice().to_vec(), |s| s.as_bytes().to_vec());
                    (atv.attr_type().to_id_string(), value)
                })
                .collect();
            set.sort();
            set.dedup();
            set
        })
        .collect()
}

/// Did `issuer` issue `issued`: names match and `issuer`'s key verifies
/// `issued`'s signature.
fn is_issuer(issuer: &Parsed<'_>, issued: &Parsed<'_>) -> bool {
    if name_key(issuer.x509.subject()) != name_key(issued.x509.issuer()) {
        return false;
    }
    if issued.x509.signature_algorithm.algorithm.to_id_string() == RSASSA_PSS {
        return false;
    }
    let verified = X509::from_der(issuer.der)
        .and_then(|i| i.public_key())
        .and_then(|key| X509::from_der(issued.der)?.verify(&key));
    matches!(verified, Ok(true))
}

/// The reason the chain is refused, in cursive's words where cursive has
/// words for it.
fn chain_failure(
    certificate: &Parsed<'_>,
    trusted: &[(String, Vec<u8>)],
    now: i64,
) -> Option<String> {
    let mut issuers = Vec::new();
    for (id, der) in trusted {
        match Parsed::new(id, der) {
            Err(e) => log::warn!("trusted certificate {id} is {e}; it cannot sign certificates"),
            Ok(p) if !p.within_dates(now) => log::warn!(
                "trusted certificate {id} is outside its valid date range and cannot be used as a signing certificate"
            ),
            Ok(p) => match p.cannot_sign_certificates() {
                Some(why) => log::warn!(
                    "trusted certificate {id} cannot be used as a signing certificate: {why}"
                ),
                None => issuers.push(p),
            },
        }
    }
    if !certificate.within_dates(now) {
        return Some("The certificate is outside its valid date range.".to_owned());
    }

    // Root first, the signing certificate last (cursive's order).
    let mut chain: Vec<&Parsed<'_>> = vec![certificate];
    loop {
        let current = chain[0];
        let Some(issuer) = issuers.iter().find(|c| is_issuer(c, current)) else {
            let whose = if chain.len() == 1 {
                "the base certificate".to_owned()
            } else {
                format!("certificate '{}'", current.id)
            };
            return Some(format!(
                "Certificate chain building failed. Could not locate the signing certificate for {whose} \
                 in the set of trusted certificates."
            ));
        };
        if issuer.der == current.der {
            break; // self-signed and trusted: the root
        }
        if chain.iter().any(|c| c.der == issuer.der) || chain.len() >= MAX_CHAIN_LENGTH {
            return Some(format!(
                "Certificate chain building failed. The trusted certificates issued each other in a loop \
                 or the chain is longer than {MAX_CHAIN_LENGTH} certificates."
            ));
        }
        chain.insert(0, issuer);
    }

    // Path lengths count the intermediates below a certificate, neither it
    // nor the signing certificate.
    for (i, ca) in chain.iter().enumerate().take(chain.len() - 1) {
        let below = (chain.len() - i).saturating_sub(2);
        if let Some(limit) = ca.path_length() {
            if (limit as usize) < below {
                return Some(format!(
                    "Certificate validation failed. The signing certificate '{}' is not configured to support \
                     certificate chains of sufficient length.",
                    ca.id
                ));
            }
        }
    }
    None
}

/// Checks that the DER certificate `der`, id `certificate_id`, chains to
/// one of `trusted` ((id, DER) pairs from the key manager) at `now`
/// (seconds since the epoch). Returns the problem, if there is one.
pub fn check_trust(
    der: &[u8],
    certificate_id: &str,
    trusted: &[(String, Vec<u8>)],
    now: i64,
) -> Vec<Problem> {
    let reason = match Parsed::new("base", der) {
        Err(e) => Some(format!("the certificate is {e}")),
        Ok(certificate) => chain_failure(&certificate, trusted, now),
    };
    reason
        .map(|reason| Problem {
            code: ProblemCode::CertificateUntrusted,
            property: None,
            message: format!(
                "the signing certificate {certificate_id} is not trusted on this cloud: {}; \
                 sign with a certificate issued by a CA the cloud trusts",
                reason.trim_end_matches('.')
            ),
        })
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests;
