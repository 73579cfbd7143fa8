//! Reads a file once and computes any set of digests from the same bytes.
//!
//! The calling thread reads the file into a small ring of reusable buffers;
//! every thread of the pass, the caller included, hashes them, each digest
//! moving to whichever thread is free (blake3 as a tree of subtrees any
//! thread can take); a buffer is refilled once every digest is done with
//! it. Reading overlaps hashing, nothing is allocated per chunk, and memory
//! is `(threads + 2) * chunk_size` (at most 8 buffers) whatever the file
//! size. How many threads: `budget`.
//!
//! Callers depend only on `hash_file`, `hash_reader`, [`HashOptions`] and
//! [`FileDigests`].
//!
//! `budget` decides the threads of a pass, `pass` runs them over its
//! buffers, `schedule` picks each thread's next task, `tree` hashes blake3
//! as subtrees, `file` holds the checks that make a staged file safe to
//! read.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

use crate::algorithm::Algorithm;
use crate::error::Error;

mod budget;
mod file;
mod pass;
mod pool;
mod schedule;
mod stream;
mod tree;

pub use file::hash_file;
use pass::{run_pass, PassError, Progress};
pub use stream::StreamHasher;

/// Default read size. Measured with `cargo run --release --example
/// chunk_size -- FILE ALGORITHM...` on a 1 GiB file in page cache (2-core
/// AMD EPYC, best of 3), MB/s at 64 KiB / 256 KiB / 1 MiB / 4 MiB / 16 MiB:
/// md5+sha512 840/866/876/880/885, md5+sha512+sha256 691/748/755/763/759,
/// sha512 1078/1177/1204/1219/1192, blake3 alone 4277/6483/7895/9190/8702.
/// 1 MiB is within 1.5% of the best for every set but blake3 alone, at a
/// quarter of 4 MiB's memory.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// Smallest and largest read size accepted: below 4 KiB the syscalls
/// dominate; above 64 MiB the buffers would dwarf every gain.
pub const MIN_CHUNK_SIZE: usize = 4 << 10;
pub const MAX_CHUNK_SIZE: usize = 64 << 20;

/// The log target of every record of a pass: Python sees the logger
/// `glance_import_guard.hasher`, whichever file of this module logs.
const LOG_TARGET: &str = "glance_import_guard::hasher";

/// How often a pass logs its progress at INFO by default.
pub const DEFAULT_PROGRESS_INTERVAL: Duration = Duration::from_secs(5);

/// `threads` for "as many as the digests can keep busy, at most one per
/// available core" (see `budget`).
pub const AUTO_THREADS: usize = 0;

/// Most threads a pass may be given (a pass never uses more threads than
/// can be busy at once: one per digest and the reader, or one per buffer
/// for blake3 alone).
pub const MAX_THREADS: usize = 64;

/// Most buffers in flight (bounds memory at 8 chunks).
const MAX_BUFFERS: usize = 8;

/// How to read and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashOptions {
    /// Bytes per read.
    pub chunk_size: usize,
    /// Threads of the pass, the one that reads included, at most
    /// [`MAX_THREADS`]; [`AUTO_THREADS`] lets the pass choose.
    pub threads: usize,
    /// Log progress at INFO this often while hashing (None: never).
    pub progress_interval: Option<Duration>,
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            threads: AUTO_THREADS,
            progress_interval: Some(DEFAULT_PROGRESS_INTERVAL),
        }
    }
}

impl HashOptions {
    /// Default options with `chunk_size`, refused outside
    /// [`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`].
    pub fn with_chunk_size(chunk_size: usize) -> Result<Self, Error> {
        Self::new(chunk_size, AUTO_THREADS)
    }

    /// Options with `chunk_size` and `threads`, each refused out of bounds.
    pub fn new(chunk_size: usize, threads: usize) -> Result<Self, Error> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(Error::Argument(format!(
                "hash chunk size {chunk_size} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE} bytes"
            )));
        }
        if threads > MAX_THREADS {
            return Err(Error::Argument(format!(
                "{threads} hashing threads is more than {MAX_THREADS}"
            )));
        }
        Ok(HashOptions {
            chunk_size,
            threads,
            ..HashOptions::default()
        })
    }
}

/// How many threads a pass over `size` bytes (if known) with `algorithms`
/// runs with `options` on this machine, the reading one included: what
/// [`AUTO_THREADS`] picks, or a fixed count as the pass caps it.
pub fn pass_threads(algorithms: &[Algorithm], options: &HashOptions, size: Option<u64>) -> usize {
    budget::budget(&distinct(algorithms), options, budget::cores(), size).threads
}

/// `algorithms` sorted, each once: what a pass computes.
fn distinct(algorithms: &[Algorithm]) -> Vec<Algorithm> {
    let mut wanted = algorithms.to_vec();
    wanted.sort();
    wanted.dedup();
    wanted
}

/// The result of one pass: how many bytes were read and each digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDigests {
    pub bytes: u64,
    pub digests: BTreeMap<Algorithm, Vec<u8>>,
}

impl FileDigests {
    /// The digest of `algorithm` as lower-case hex, if it was computed.
    pub fn hex(&self, algorithm: Algorithm) -> Option<String> {
        self.digests.get(&algorithm).map(hex::encode)
    }
}

/// Reads `reader` to its end once, computing every algorithm (duplicates
/// once). Read errors come back as [`Error::Io`] naming `<stream>`.
pub fn hash_reader<R: Read>(
    reader: R,
    algorithms: &[Algorithm],
    options: &HashOptions,
) -> Result<FileDigests, Error> {
    hash_reader_until(reader, algorithms, options, &AtomicBool::new(false))
}

/// [`hash_reader`] that stops at the next chunk once `cancel` is set,
/// hashing nothing more, with an [`Error::Io`] error.
fn hash_reader_until<R: Read>(
    reader: R,
    algorithms: &[Algorithm],
    options: &HashOptions,
    cancel: &AtomicBool,
) -> Result<FileDigests, Error> {
    let mut progress = Progress::new("<stream>", None, options.progress_interval);
    run_pass(reader, algorithms, options, &mut progress, cancel).map_err(|e| match e {
        PassError::Read(source) => Error::Io {
            path: "<stream>".into(),
            source,
        },
        PassError::Digest(e) => e,
    })
}

#[cfg(test)]
mod tests;
