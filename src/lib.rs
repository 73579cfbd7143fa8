//! glance-import-guard's core: digest algorithms, the one-pass file hasher,
//! and the rules an image's properties must pass before Glance may import it.
//!
//! The core knows nothing about Python or Glance beyond the property names;
//! it is driven from `python.rs` (the PyO3 bindings, built with the `python`
//! feature) and tested on its own with `cargo test`.

pub mod algorithm;
pub mod certificate;
pub mod encoding;
pub mod error;
pub mod hasher;
pub mod rules;
pub mod trust;

#[cfg(feature = "python")]
mod python;

pub use algorithm::Algorithm;
pub use certificate::{check_certificate, CertificatePolicy};
pub use error::Error;
pub use hasher::{hash_file, hash_reader, FileDigests, HashOptions};
pub use rules::{
    check_digests, check_properties, refusal_message, Plan, Policy, Problem, ProblemCode, Verdict,
};
pub use trust::check_trust;
