//! Reads a file once and computes any set of digests from the same buffer.
//!
//! The interface (`hash_file`, `hash_reader`, [`HashOptions`],
//! [`FileDigests`]) is what callers depend on; how the pass is scheduled
//! behind it (today: one thread, one reusable buffer) is free to change.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, ErrorKind, Read};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::algorithm::{Algorithm, Engine};
use crate::error::Error;

/// Default read size. Measured with `cargo run --release --example
/// chunk_size -- FILE ALGORITHM...` on a 1 GiB file in page cache (2-core
/// x86-64, best of 3): 256 KiB to 4 MiB are on one plateau; 64 KiB reads
/// cost 2% (sha256, 1.87 GB/s) to 5% (blake3, 6.7 GB/s), and so do 16 MiB
/// reads; md5+sha512 (380 MB/s) is flat across all sizes.
pub const DEFAULT_CHUNK_SIZE: usize = 1 << 20;

/// Smallest and largest read size accepted: below 4 KiB the syscalls
/// dominate; above 64 MiB the buffer would dwarf every gain.
pub const MIN_CHUNK_SIZE: usize = 4 << 10;
pub const MAX_CHUNK_SIZE: usize = 64 << 20;

/// How to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashOptions {
    /// Bytes per read; memory use is this, once, whatever the file size.
    pub chunk_size: usize,
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }
}

impl HashOptions {
    /// Options with `chunk_size`, refused outside
    /// [`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`].
    pub fn with_chunk_size(chunk_size: usize) -> Result<Self, Error> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(Error::Policy(format!(
                "hash chunk size {chunk_size} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE} bytes"
            )));
        }
        Ok(HashOptions { chunk_size })
    }
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

/// Reads `reader` to its end once, feeding every algorithm from each chunk.
/// Duplicate algorithms are computed once.
pub fn hash_reader<R: Read>(
    mut reader: R,
    algorithms: &[Algorithm],
    options: &HashOptions,
) -> io::Result<FileDigests> {
    let mut wanted: Vec<Algorithm> = algorithms.to_vec();
    wanted.sort();
    wanted.dedup();
    let mut engines: Vec<(Algorithm, Box<dyn Engine>)> =
        wanted.iter().map(|&a| (a, a.engine())).collect();

    let mut buffer = vec![0u8; options.chunk_size.max(1)];
    let mut bytes = 0u64;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        bytes += n as u64;
        for (_, engine) in engines.iter_mut() {
            engine.update(&buffer[..n]);
        }
    }
    let digests = engines.drain(..).map(|(a, e)| (a, e.finish())).collect();
    Ok(FileDigests { bytes, digests })
}

fn kind_of(file_type: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_symlink() {
        "symbolic link"
    } else {
        "special file"
    }
}

/// Hashes the regular file at `path` in one pass.
///
/// Refuses anything that is not a regular file before opening it (a FIFO
/// would block the import forever), and checks again on the open handle.
pub fn hash_file(
    path: &Path,
    algorithms: &[Algorithm],
    options: &HashOptions,
) -> Result<FileDigests, Error> {
    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let not_regular = |file_type| Error::NotARegularFile {
        path: path.to_owned(),
        kind: kind_of(file_type),
    };
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    if !metadata.is_file() {
        return Err(not_regular(metadata.file_type()));
    }
    let file = File::open(path).map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() {
        return Err(not_regular(metadata.file_type()));
    }

    let started = Instant::now();
    let result = hash_reader(file, algorithms, options).map_err(io_error)?;
    let seconds = started.elapsed().as_secs_f64();
    log::debug!(
        "hashed {} ({} bytes, {}) in {:.3} s, {:.0} MB/s",
        path.display(),
        result.bytes,
        result
            .digests
            .keys()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join("+"),
        seconds,
        result.bytes as f64 / 1e6 / seconds.max(1e-9),
    );
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_bounds() {
        assert!(HashOptions::with_chunk_size(MIN_CHUNK_SIZE).is_ok());
        assert!(HashOptions::with_chunk_size(MAX_CHUNK_SIZE).is_ok());
        assert!(matches!(
            HashOptions::with_chunk_size(MIN_CHUNK_SIZE - 1),
            Err(Error::Policy(_))
        ));
        assert!(matches!(
            HashOptions::with_chunk_size(MAX_CHUNK_SIZE + 1),
            Err(Error::Policy(_))
        ));
    }

    #[test]
    fn duplicates_are_computed_once() {
        let d = hash_reader(
            &b"abc"[..],
            &[Algorithm::Sha256, Algorithm::Sha256],
            &HashOptions::default(),
        )
        .unwrap();
        assert_eq!(d.digests.len(), 1);
        assert_eq!(d.bytes, 3);
    }

    #[test]
    fn no_algorithms_still_counts_bytes() {
        let d = hash_reader(&[0u8; 10][..], &[], &HashOptions::default()).unwrap();
        assert_eq!(d.bytes, 10);
        assert!(d.digests.is_empty());
    }

    #[test]
    fn directory_is_refused() {
        let dir = std::env::temp_dir();
        let err = hash_file(&dir, &[Algorithm::Sha256], &HashOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotARegularFile {
                    kind: "directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_the_path() {
        let path = Path::new("/nonexistent/guard-test");
        let err = hash_file(path, &[Algorithm::Sha256], &HashOptions::default()).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        assert!(err.to_string().contains("/nonexistent/guard-test"));
    }
}
