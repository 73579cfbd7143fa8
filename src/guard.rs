//! The guard: a policy validated once, and every check a caller makes with
//! it. The import plugin, the CLI (and the upload filter) each build one
//! from the options and ask it, so the rules, messages and codes are the
//! same whichever door the bytes come through.

use std::collections::BTreeMap;
use std::path::Path;

use crate::certificate;
use crate::error::Error;
use crate::hasher::{self, HashOptions, StreamHasher};
use crate::plan::{self, FileVerdict, Plan, Signature, Verdict};
use crate::policy::Policy;
use crate::problem::{Problem, ProblemCode};
use crate::record::{self, FileIdentity, Stale};
use crate::rules;
use crate::trust;

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    policy: Policy,
}

impl Guard {
    /// Validates `policy`; [`Error::Policy`] says what is inconsistent.
    pub fn new(policy: Policy) -> Result<Self, Error> {
        policy.validate()?;
        Ok(Guard { policy })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Every problem of `properties` for an import by a caller who is
    /// `exempt` from the signature requirement or not, and the plan for the
    /// pass over the bytes.
    pub fn check_properties(&self, properties: &BTreeMap<String, String>, exempt: bool) -> Verdict {
        rules::check_properties(properties, &self.policy, exempt)
    }

    /// Hashes the staged file as `plan` says and compares the declared
    /// digest. A file that cannot be read, or that changed while it was
    /// read, is a problem (logged at ERROR with the path, which the user's
    /// message leaves out); a failing digest library is an error.
    pub fn check_file(
        &self,
        path: &Path,
        plan: &Plan,
        options: &HashOptions,
    ) -> Result<FileVerdict, Error> {
        let (code, what) = match hasher::hash_file(path, &plan.algorithms, options) {
            Ok(digests) => {
                let problems = plan::check_digests(plan, &digests);
                return Ok(FileVerdict {
                    digests: Some(digests),
                    problems,
                });
            }
            Err(e @ Error::Changed { .. }) => {
                log::error!("{e}");
                (
                    ProblemCode::StagedDataChanged,
                    "changed while the guard read it",
                )
            }
            Err(e @ (Error::Io { .. } | Error::NotARegularFile { .. })) => {
                log::error!("{e}");
                (ProblemCode::StagedDataUnreadable, "cannot be read")
            }
            Err(e) => return Err(e),
        };
        Ok(FileVerdict {
            digests: None,
            problems: vec![Problem::general(
                code,
                format!("the staged image data {what}; upload or import it again"),
            )],
        })
    }

    /// The verdict of a staged-file record (see [`crate::record`]) for
    /// the file at `path`: as [`Self::check_file`]'s would be, without
    /// reading the file, when the record may stand for it; otherwise why
    /// not (the caller then reads the file).
    pub fn check_record(
        &self,
        text: &str,
        key: &[u8],
        image_id: &str,
        path: &Path,
        plan: &Plan,
    ) -> Result<Result<FileVerdict, Stale>, Error> {
        let identity = match FileIdentity::of(path) {
            Ok(identity) => identity,
            Err(e) => return Ok(Err(Stale(e.to_string()))),
        };
        Ok(
            record::open(text, key, image_id, identity, &plan.algorithms)?.map(|digests| {
                FileVerdict {
                    problems: plan::check_digests(plan, &digests),
                    digests: Some(digests),
                }
            }),
        )
    }

    /// The policy's rules on the DER signing certificate of `signature`, at
    /// `now` (seconds since the epoch).
    pub fn check_certificate(&self, der: &[u8], signature: &Signature, now: i64) -> Vec<Problem> {
        certificate::check_certificate(der, signature, &self.policy.certificate, now)
    }

    /// Whether the DER certificate chains to one of `trusted` ((id, DER)).
    pub fn check_trust(
        &self,
        der: &[u8],
        certificate_id: &str,
        trusted: &[(String, Vec<u8>)],
        now: i64,
    ) -> Vec<Problem> {
        trust::check_trust(der, certificate_id, trusted, now)
    }

    /// The pass over bytes that arrive chunk by chunk (an upload as the
    /// server reads it), as `plan` says; [`StreamCheck::finish`] compares
    /// the declared digest, as [`Guard::check_file`] does for a file.
    pub fn stream(&self, plan: Plan, options: &HashOptions) -> Result<StreamCheck, Error> {
        let hasher = StreamHasher::new(&plan.algorithms, options)?;
        Ok(StreamCheck { plan, hasher })
    }
}

/// A stream being checked: see [`Guard::stream`].
pub struct StreamCheck {
    plan: Plan,
    hasher: StreamHasher,
}

impl StreamCheck {
    /// Hashes the next chunk (waits while the pass is behind).
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.hasher.update(chunk)
    }

    /// The digests of everything fed, and the problems of the declared
    /// digest; the plan, for the signature the caller verifies next.
    pub fn finish(&mut self) -> Result<FileVerdict, Error> {
        let digests = self.hasher.finish()?;
        let problems = plan::check_digests(&self.plan, &digests);
        Ok(FileVerdict {
            digests: Some(digests),
            problems,
        })
    }

    /// Gives up on the stream (a client that went away): the pass stops
    /// without hashing what is queued and its threads are joined; see
    /// [`StreamHasher::abort`]. A no-op once finished or aborted.
    pub fn abort(&mut self) {
        self.hasher.abort();
    }

    /// Whether the stream still takes chunks: neither finished nor aborted.
    pub fn is_open(&self) -> bool {
        self.hasher.is_open()
    }
}
