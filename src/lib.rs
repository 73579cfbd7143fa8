//! glance-import-guard's core: digest algorithms, the one-pass hasher, and
//! the decision on an image: its properties, its bytes, its signing
//! certificate and the certificate's chain of trust.
//!
//! The core knows nothing about Python or Glance beyond the property names;
//! it is driven from `python/` (the PyO3 bindings, built with the `python`
//! feature) and tested on its own with `cargo test`.
//!
//! Modules by concern, each depending only on those above it:
//! `error`, `algorithm`, `encoding`, `hasher` (bytes to digests);
//! `problem` (codes, problems, the refusal message), `policy` (the
//! options), `plan` (what the pass computes and the digest comparison);
//! `rules` (properties to problems and a plan), `certificate` (rules on the
//! signing certificate), `trust` (its chain to trusted CAs); `record` (the
//! sealed digests of a staged file); `guard` (one object holding a
//! validated policy, what every caller uses).

pub mod algorithm;
pub mod certificate;
pub mod encoding;
pub mod error;
pub mod guard;
pub mod hasher;
pub mod plan;
pub mod policy;
pub mod problem;
pub mod record;
pub mod rules;
pub mod trust;

#[cfg(feature = "python")]
mod python;

pub use algorithm::Algorithm;
pub use certificate::check_certificate;
pub use error::Error;
pub use guard::Guard;
pub use hasher::{hash_file, hash_reader, pass_threads, FileDigests, HashOptions, StreamHasher};
pub use plan::{check_digests, DeclaredDigest, FileVerdict, Plan, Signature, Verdict};
pub use policy::{CertificatePolicy, Policy};
pub use problem::{refusal_message, Action, Problem, ProblemCode};
pub use rules::check_properties;
pub use trust::check_trust;
