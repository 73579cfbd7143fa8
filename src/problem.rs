//! Problems: the stable codes, one reason to refuse, and the message a
//! refused import gets. Every code is written once, in the table below;
//! `_core.problem_codes()` lists them for Python, and a test holds the stub
//! and the README to the same list. To add a code, add a row here and a
//! case for it in the tests of the module that raises it.

use serde::{Deserialize, Serialize};

/// Defines [`ProblemCode`] and its table of codes from one list.
macro_rules! problem_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $code:literal,)*) => {
        /// A stable code for each kind of problem; tests and tools match on these.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum ProblemCode {
            $($(#[doc = $doc])* #[serde(rename = $code)] $variant,)*
        }

        impl ProblemCode {
            /// Every code, in the order of the table.
            pub const ALL: &'static [ProblemCode] = &[$(ProblemCode::$variant),*];

            /// The code as users, logs and tests see it (kebab-case).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ProblemCode::$variant => $code,)*
                }
            }

            /// The code named `code`, if there is one.
            pub fn from_code(code: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|c| c.as_str() == code)
            }
        }
    };
}

problem_codes! {
    /// A required signature property is absent or empty.
    MissingSignatureProperty = "missing-signature-property",
    /// `img_signature_hash_method` is not one of cursive's four.
    UnknownSignatureHashMethod = "unknown-signature-hash-method",
    /// `img_signature_key_type` is not one the installed cursive verifies.
    UnknownSignatureKeyType = "unknown-signature-key-type",
    /// `img_signature_key_type` is supported but not allowed by the operator.
    DisallowedSignatureKeyType = "disallowed-signature-key-type",
    /// `img_signature` is not base64 to cursive's decoder.
    BadSignatureEncoding = "bad-signature-encoding",
    /// `img_signature` decodes to nothing.
    EmptySignature = "empty-signature",
    /// `img_signature_certificate_uuid` is not a usable key-manager id.
    BadCertificateId = "bad-certificate-id",
    /// Only one of the declared-digest properties is set.
    IncompleteDeclaredDigest = "incomplete-declared-digest",
    /// No declared digest although the operator requires one.
    MissingDeclaredDigest = "missing-declared-digest",
    /// The declared algorithm is not one the guard knows.
    UnknownHashAlgorithm = "unknown-hash-algorithm",
    /// The declared algorithm is known but not allowed.
    DisallowedHashAlgorithm = "disallowed-hash-algorithm",
    /// The declared value is not hex of the algorithm's digest length.
    BadHashValue = "bad-hash-value",
    /// The staged bytes do not have the declared digest.
    DigestMismatch = "digest-mismatch",
    /// The signature does not verify over the staged bytes.
    SignatureMismatch = "signature-mismatch",
    /// The signing certificate cannot be had or does not fit the key type.
    CertificateUnusable = "certificate-unusable",
    /// The key manager could not be asked for the signing certificate
    /// (down, or failing): the import can be retried later.
    CertificateUnavailable = "certificate-unavailable",
    /// The signing certificate is past its validity dates.
    CertificateExpired = "certificate-expired",
    /// The signing certificate is not valid yet.
    CertificateNotYetValid = "certificate-not-yet-valid",
    /// The signing certificate does not chain to a trusted certificate.
    CertificateUntrusted = "certificate-untrusted",
    /// An EC key's curve is not the one `img_signature_key_type` names.
    CurveMismatch = "curve-mismatch",
    /// The RSA key is smaller than the operator allows.
    KeyTooSmall = "key-too-small",
    /// The staged data cannot be read.
    StagedDataUnreadable = "staged-data-unreadable",
    /// The staged data changed while the guard read it.
    StagedDataChanged = "staged-data-changed",
    /// glance-download: the remote image cannot be imported (no such
    /// region or image, not active, too big) or its region failed.
    RemoteImageUnusable = "remote-image-unusable",
    /// glance-download: the remote image has no `os_hash_value`, so the
    /// downloaded bytes cannot be checked against it.
    RemoteHashMissing = "remote-hash-missing",
    /// glance-download: the downloaded bytes do not have the remote
    /// image's `os_hash_value`.
    RemoteHashMismatch = "remote-hash-mismatch",
    /// A property the guard reads is longer than it accepts.
    PropertyTooLong = "property-too-long",
    /// The guard's own configuration is invalid (the operator must act).
    GuardMisconfigured = "guard-misconfigured",
    /// The guard failed unexpectedly (a bug, or a library it calls
    /// raised); the glance-api log has the details.
    GuardFailed = "guard-failed",
    /// A location was to give an image its data (the locations API, or a
    /// PATCH of `/locations`); the upload filter refuses it.
    LocationRefused = "location-refused",
    /// The legacy tasks API's import, which runs no import plugin.
    LegacyTaskRefused = "legacy-task-refused",
    /// A signature property or the declared digest was to change after
    /// the image got its data.
    VerifiedPropertyChange = "verified-property-change",
    /// A call of Glance's API that the guard does not know (a route of a
    /// newer Glance): refused until the guard knows what it does.
    UnknownRequest = "unknown-request",
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// A problem with the property at fault.
    pub fn new(code: ProblemCode, property: &str, message: String) -> Self {
        Problem {
            code,
            property: Some(property.to_owned()),
            message,
        }
    }
}

impl Problem {
    /// A problem that is not about one property.
    pub fn general(code: ProblemCode, message: String) -> Self {
        Problem {
            code,
            property: None,
            message,
        }
    }
}

/// A property value as shown in messages: quoted, escaped, and cut short so a
/// 64 KiB value cannot flood a message or a log line.
pub(crate) fn shown(value: &str) -> String {
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

/// "a", "a and b", "a, b and c".
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What a refused request would have done to the image: the message says
/// it was not done, and to do it again once fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// An import (the plugin, a glance-download checked before it runs).
    Import,
    /// `PUT .../file`.
    Upload,
    /// `PUT .../stage`.
    Stage,
    /// A change of the image record (a patch, a location).
    Change,
    /// A new image (the legacy tasks API creates one).
    Create,
}

impl Action {
    /// The action by its name ("import", "upload", "stage", "change",
    /// "create"); None for any other.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "import" => Self::Import,
            "upload" => Self::Upload,
            "stage" => Self::Stage,
            "change" => Self::Change,
            "create" => Self::Create,
            _ => return None,
        })
    }

    fn done(self) -> &'static str {
        match self {
            Self::Import => "imported",
            Self::Upload => "uploaded",
            Self::Stage => "staged",
            Self::Change => "changed",
            Self::Create => "created",
        }
    }

    fn again(self) -> &'static str {
        match self {
            Self::Import => "import again",
            Self::Upload => "upload again",
            Self::Stage => "stage again",
            Self::Change | Self::Create => "try again",
        }
    }
}

/// The one message a refusal gets: the image id and what was not done to
/// it, then every problem numbered, missing signature properties folded
/// into one sentence.
pub fn refusal_message(image_id: &str, problems: &[Problem], action: Action) -> String {
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
        "Image {image_id} was not {}: {}. Fix what is named and {}.",
        action.done(),
        numbered.join("; "),
        action.again()
    )
}

#[cfg(test)]
mod tests;
