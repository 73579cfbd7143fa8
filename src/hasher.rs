//! Reads a file once and computes any set of digests from the same bytes.
//!
//! The calling thread reads the file into a small ring of reusable buffers;
//! worker threads, each owning some of the digests, hash every buffer; a
//! buffer is refilled once every worker is done with it. Reading overlaps
//! hashing, the digests run on every core, nothing is allocated per chunk,
//! and memory is `(workers + 2) * chunk_size` (at most 8 buffers) whatever
//! the file size. blake3 alone is hashed by blake3's own multi-threaded
//! code instead.
//!
//! Callers depend only on `hash_file`, `hash_reader`, [`HashOptions`] and
//! [`FileDigests`].

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::algorithm::{self, Algorithm, Engine};
use crate::error::Error;

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

/// Most buffers in flight (bounds memory at 8 chunks).
const MAX_BUFFERS: usize = 8;

/// How to read and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashOptions {
    /// Bytes per read.
    pub chunk_size: usize,
    /// Most threads hashing at once; 0 means one per available core.
    pub threads: usize,
    /// Log progress at INFO this often while hashing (None: never).
    pub progress_interval: Option<Duration>,
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions {
            chunk_size: DEFAULT_CHUNK_SIZE,
            threads: 0,
            progress_interval: Some(Duration::from_secs(5)),
        }
    }
}

impl HashOptions {
    /// Default options with `chunk_size`, refused outside
    /// [`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`].
    pub fn with_chunk_size(chunk_size: usize) -> Result<Self, Error> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(Error::Policy(format!(
                "hash chunk size {chunk_size} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE} bytes"
            )));
        }
        Ok(HashOptions {
            chunk_size,
            ..HashOptions::default()
        })
    }

    fn thread_budget(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
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

/// Why a pass stopped.
enum PassError {
    Read(io::Error),
    Digest(Error),
}

/// Splits the digests over at most `threads` workers so the slowest worker
/// has as little to do as can be (longest-cost-first onto the least loaded
/// worker, by each algorithm's measured cost).
fn assign(algorithms: &[Algorithm], threads: usize) -> Vec<Vec<Algorithm>> {
    let mut sorted = algorithms.to_vec();
    sorted.sort_by_key(|a| std::cmp::Reverse(a.cost()));
    let workers = threads.clamp(1, sorted.len().max(1));
    let mut groups: Vec<(u64, Vec<Algorithm>)> = vec![(0, Vec::new()); workers];
    for a in sorted {
        let least = groups
            .iter_mut()
            .min_by_key(|(load, _)| *load)
            .expect("at least one worker");
        least.0 += u64::from(a.cost());
        least.1.push(a);
    }
    groups
        .into_iter()
        .map(|(_, g)| g)
        .filter(|g| !g.is_empty())
        .collect()
}

/// One reusable buffer. The reader writes it only while no worker holds it
/// (it came back through the free channel), so its lock is never contended.
struct Slot {
    data: RwLock<Vec<u8>>,
    len: AtomicUsize,
    /// Workers still to hash this buffer; the last one frees it.
    pending: AtomicUsize,
}

/// Reads into `buffer` until it is full or the reader is at its end.
fn fill<R: Read>(reader: &mut R, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

struct Progress<'a> {
    label: &'a str,
    total: Option<u64>,
    started: Instant,
    next: Option<Instant>,
    interval: Option<Duration>,
}

impl<'a> Progress<'a> {
    fn new(label: &'a str, total: Option<u64>, interval: Option<Duration>) -> Self {
        let started = Instant::now();
        Progress {
            label,
            total,
            started,
            next: interval.map(|i| started + i),
            interval,
        }
    }

    fn update(&mut self, done: u64) {
        let (Some(next), Some(interval)) = (self.next, self.interval) else {
            return;
        };
        let now = Instant::now();
        if now < next {
            return;
        }
        self.next = Some(now + interval);
        let rate = done as f64 / 1e6 / (now - self.started).as_secs_f64();
        match self.total {
            Some(total) if total > 0 => log::info!(
                "hashing {}: {done} of {total} bytes ({:.0}%), {rate:.0} MB/s",
                self.label,
                done as f64 * 100.0 / total as f64
            ),
            _ => log::info!("hashing {}: {done} bytes, {rate:.0} MB/s", self.label),
        }
    }
}

fn run_pass<R: Read>(
    mut reader: R,
    algorithms: &[Algorithm],
    options: &HashOptions,
    progress: &mut Progress<'_>,
) -> Result<FileDigests, PassError> {
    let mut wanted = algorithms.to_vec();
    wanted.sort();
    wanted.dedup();
    let chunk_size = options.chunk_size.max(1);
    let threads = options.thread_budget();

    // blake3 alone: its own multi-threaded tree hashing, fed chunk by chunk.
    if wanted == [Algorithm::Blake3] && threads > 1 {
        let engine = algorithm::blake3_multithreaded(threads).map_err(PassError::Digest)?;
        return run_serial(reader, wanted[0], engine, chunk_size, progress);
    }
    let groups = assign(&wanted, threads);
    if groups.is_empty() {
        let mut buffer = vec![0u8; chunk_size];
        let mut bytes = 0u64;
        loop {
            let n = fill(&mut reader, &mut buffer).map_err(PassError::Read)?;
            if n == 0 {
                return Ok(FileDigests {
                    bytes,
                    digests: BTreeMap::new(),
                });
            }
            bytes += n as u64;
            progress.update(bytes);
        }
    }

    let slots: Vec<Slot> = (0..(groups.len() + 2).min(MAX_BUFFERS))
        .map(|_| Slot {
            data: RwLock::new(vec![0u8; chunk_size]),
            len: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
        })
        .collect();
    let (free_tx, free_rx) = sync_channel::<usize>(slots.len());
    for i in 0..slots.len() {
        free_tx.send(i).expect("the channel holds every slot");
    }

    std::thread::scope(|scope| {
        let mut to_workers: Vec<SyncSender<usize>> = Vec::new();
        let mut handles = Vec::new();
        for group in &groups {
            let (tx, rx) = sync_channel::<usize>(slots.len());
            to_workers.push(tx);
            let free_tx = free_tx.clone();
            let slots = &slots;
            handles.push(scope.spawn(move || worker(group, rx, slots, free_tx)));
        }
        // Only workers may free slots now: if they all stop, recv fails.
        drop(free_tx);

        let read = read_into_slots(&mut reader, &slots, &free_rx, &to_workers, progress);
        drop(to_workers); // workers drain what they have, then finish
        let mut digests = BTreeMap::new();
        let mut failure = None;
        for handle in handles {
            match handle.join() {
                Ok(Ok(done)) => digests.extend(done),
                Ok(Err(e)) => failure = failure.or(Some(e)),
                Err(_) => {
                    failure = failure.or(Some(Error::Internal("a hashing thread panicked".into())))
                }
            }
        }
        let bytes = read.map_err(PassError::Read)?;
        match failure {
            Some(e) => Err(PassError::Digest(e)),
            None => Ok(FileDigests { bytes, digests }),
        }
    })
}

fn read_into_slots<R: Read>(
    reader: &mut R,
    slots: &[Slot],
    free_rx: &Receiver<usize>,
    to_workers: &[SyncSender<usize>],
    progress: &mut Progress<'_>,
) -> io::Result<u64> {
    let mut bytes = 0u64;
    loop {
        let Ok(i) = free_rx.recv() else {
            return Ok(bytes); // every worker stopped; they report why
        };
        let slot = &slots[i];
        let n = {
            let mut data = slot.data.write().unwrap_or_else(|p| p.into_inner());
            fill(reader, &mut data)?
        };
        if n == 0 {
            return Ok(bytes);
        }
        bytes += n as u64;
        slot.len.store(n, Ordering::Release);
        slot.pending.store(to_workers.len(), Ordering::Release);
        for tx in to_workers {
            if tx.send(i).is_err() {
                return Ok(bytes); // that worker stopped; it reports why
            }
        }
        progress.update(bytes);
    }
}

/// Hashes every slot it is sent with its digests, then frees the slot if it
/// was the last worker to need it. A panicking engine is contained: the
/// worker keeps freeing slots (so the reader never waits forever) and
/// reports the failure at the end.
fn worker(
    algorithms: &[Algorithm],
    rx: Receiver<usize>,
    slots: &[Slot],
    free_tx: SyncSender<usize>,
) -> Result<Vec<(Algorithm, Vec<u8>)>, Error> {
    let mut engines = Vec::with_capacity(algorithms.len());
    let mut failure = None;
    for &a in algorithms {
        match a.engine() {
            Ok(e) => engines.push((a, e)),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    for i in rx {
        let slot = &slots[i];
        if failure.is_none() {
            let data = slot.data.read().unwrap_or_else(|p| p.into_inner());
            let chunk = &data[..slot.len.load(Ordering::Acquire)];
            if catch_unwind(AssertUnwindSafe(|| {
                for (_, engine) in engines.iter_mut() {
                    engine.update(chunk);
                }
            }))
            .is_err()
            {
                failure = Some(Error::Internal(format!(
                    "hashing {} panicked",
                    algorithms
                        .iter()
                        .map(|a| a.name())
                        .collect::<Vec<_>>()
                        .join("+")
                )));
            }
        }
        if slot.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Fails only once the reader has stopped: nothing to refill.
            let _ = free_tx.send(i);
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    engines
        .into_iter()
        .map(|(a, e)| Ok((a, e.finish()?)))
        .collect()
}

fn run_serial<R: Read>(
    mut reader: R,
    algorithm: Algorithm,
    mut engine: Box<dyn Engine>,
    chunk_size: usize,
    progress: &mut Progress<'_>,
) -> Result<FileDigests, PassError> {
    let mut buffer = vec![0u8; chunk_size];
    let mut bytes = 0u64;
    loop {
        let n = fill(&mut reader, &mut buffer).map_err(PassError::Read)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        engine.update(&buffer[..n]);
        progress.update(bytes);
    }
    let digest = engine.finish().map_err(PassError::Digest)?;
    Ok(FileDigests {
        bytes,
        digests: BTreeMap::from([(algorithm, digest)]),
    })
}

/// Reads `reader` to its end once, computing every algorithm (duplicates
/// once). Read errors come back as [`Error::Io`] naming `<stream>`.
pub fn hash_reader<R: Read>(
    reader: R,
    algorithms: &[Algorithm],
    options: &HashOptions,
) -> Result<FileDigests, Error> {
    let mut progress = Progress::new("<stream>", None, options.progress_interval);
    run_pass(reader, algorithms, options, &mut progress).map_err(|e| match e {
        PassError::Read(source) => Error::Io {
            path: "<stream>".into(),
            source,
        },
        PassError::Digest(e) => e,
    })
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
/// Refuses anything that is not a regular file before reading (a FIFO
/// would block the import forever; a symbolic link in the file's place
/// could point anywhere), checks again on the open handle, and refuses a
/// file that changed size or modification time while it was read. Logs
/// progress and, at the end, the time and throughput at INFO.
pub fn hash_file(
    path: &Path,
    algorithms: &[Algorithm],
    options: &HashOptions,
) -> Result<FileDigests, Error> {
    use std::os::unix::fs::OpenOptionsExt;

    let io_error = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let not_regular = |file_type| Error::NotARegularFile {
        path: path.to_owned(),
        kind: kind_of(file_type),
    };
    let metadata = std::fs::symlink_metadata(path).map_err(io_error)?;
    if !metadata.is_file() {
        return Err(not_regular(metadata.file_type()));
    }
    // O_NOFOLLOW: a link swapped in since the check fails to open;
    // O_NONBLOCK: so does a FIFO, instead of waiting for a writer.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error)?;
    let before = file.metadata().map_err(io_error)?;
    if !before.is_file() {
        return Err(not_regular(before.file_type()));
    }

    let label = path.display().to_string();
    let mut progress = Progress::new(&label, Some(before.len()), options.progress_interval);
    let result = run_pass(&file, algorithms, options, &mut progress).map_err(|e| match e {
        PassError::Read(source) => io_error(source),
        PassError::Digest(e) => e,
    })?;
    let after = file.metadata().map_err(io_error)?;
    if before.len() != result.bytes
        || after.len() != result.bytes
        || before.modified().ok() != after.modified().ok()
    {
        return Err(Error::Changed {
            path: path.to_owned(),
            size_before: before.len(),
            read: result.bytes,
            size_after: after.len(),
        });
    }
    let seconds = progress.started.elapsed().as_secs_f64();
    log::info!(
        "hashed {label}: {} bytes ({}) in {seconds:.3} s, {:.0} MB/s",
        result.bytes,
        result
            .digests
            .keys()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join("+"),
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
    fn assignment_balances_by_cost() {
        use Algorithm::*;
        // Two threads, three digests: md5 (the slowest) alone, the others
        // together.
        let mut groups = assign(&[Sha256, Md5, Sha512], 2);
        groups.sort();
        assert_eq!(groups, vec![vec![Md5], vec![Sha512, Sha256]]);
        assert_eq!(assign(&[Sha256, Md5], 8).len(), 2);
        assert_eq!(assign(&[Sha256, Md5], 1), vec![vec![Md5, Sha256]]);
        assert!(assign(&[], 4).is_empty());
    }

    #[test]
    fn every_thread_count_gives_the_same_digests() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
        let all = Algorithm::ALL;
        let reference = hash_reader(
            &data[..],
            all,
            &HashOptions {
                threads: 1,
                ..HashOptions::default()
            },
        )
        .unwrap();
        for threads in [2, 3, 16] {
            for chunk_size in [4096, 65_537, 1 << 20] {
                let options = HashOptions {
                    chunk_size,
                    threads,
                    progress_interval: Some(Duration::ZERO),
                };
                assert_eq!(hash_reader(&data[..], all, &options).unwrap(), reference);
            }
        }
    }

    #[test]
    fn blake3_alone_takes_its_multithreaded_path_and_agrees() {
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        let expected = blake3::hash(&data);
        for threads in [1, 2, 4] {
            let options = HashOptions {
                threads,
                ..HashOptions::default()
            };
            let d = hash_reader(&data[..], &[Algorithm::Blake3], &options).unwrap();
            assert_eq!(d.digests[&Algorithm::Blake3], expected.as_bytes());
        }
    }

    /// Fails after `ok` bytes.
    struct Failing {
        ok: usize,
    }
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.ok == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.ok);
            self.ok -= n;
            Ok(n)
        }
    }

    #[test]
    fn read_errors_stop_the_pass_with_every_thread_count() {
        for threads in [1, 2, 4] {
            for algorithms in [
                &[][..],
                &[Algorithm::Blake3],
                &[Algorithm::Md5, Algorithm::Sha512],
            ] {
                let options = HashOptions {
                    chunk_size: 4096,
                    threads,
                    progress_interval: None,
                };
                let err = hash_reader(Failing { ok: 100_000 }, algorithms, &options).unwrap_err();
                assert!(err.to_string().contains("disk on fire"), "{err}");
            }
        }
    }

    #[test]
    fn symlink_in_the_files_place_is_refused() {
        let dir = std::env::temp_dir().join(format!("guard-link-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("target");
        std::fs::write(&target, b"data").unwrap();
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = hash_file(&link, &[Algorithm::Sha256], &HashOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotARegularFile {
                    kind: "symbolic link",
                    ..
                }
            ),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
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
