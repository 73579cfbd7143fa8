//! The one error type of the core. Rule violations are not errors: they are
//! [`crate::problem::Problem`] values, all reported together.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the core other than a refused image.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A digest algorithm name that the registry does not know.
    #[error("unknown digest algorithm {name:?} (known: {known})")]
    UnknownAlgorithm { name: String, known: String },

    /// The staged file could not be opened or read.
    #[error("cannot read staged file {path}: {source}")]
    Io { path: PathBuf, source: io::Error },

    /// The staged path exists but is not a regular file.
    #[error("staged path {path} is not a regular file but a {kind}")]
    NotARegularFile { path: PathBuf, kind: &'static str },

    /// The staged file changed (grew, shrank or was rewritten) while it
    /// was read, so its digests describe no definite data.
    #[error("staged file {path} changed while it was read: {size_before} bytes before, {read} read, {size_after} after")]
    Changed {
        path: PathBuf,
        size_before: u64,
        read: u64,
        size_after: u64,
    },

    /// The digest library failed (e.g. an algorithm disabled by FIPS mode).
    #[error("cannot compute {algorithm}: {message}")]
    Digest {
        algorithm: &'static str,
        message: String,
    },

    /// A bug: something that cannot happen did (a panic in a hashing
    /// thread, for example). Reported, never propagated as a panic.
    #[error("internal error: {0}")]
    Internal(String),

    /// A caller passed an argument out of bounds (a bug in the caller).
    #[error("{0}")]
    Argument(String),

    /// The operator's configuration is inconsistent.
    #[error("invalid [import_guard] configuration: {0}")]
    Policy(String),
}

impl Error {
    pub(crate) fn digest(algorithm: &'static str, error: impl std::fmt::Display) -> Self {
        Error::Digest {
            algorithm,
            message: error.to_string(),
        }
    }
}
