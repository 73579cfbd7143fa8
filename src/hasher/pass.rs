//! One pass: the reader fills a ring of reusable buffers, worker threads
//! hash each buffer with their share of the digests.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::RwLock;
use std::time::{Duration, Instant};

use super::{FileDigests, HashOptions, MAX_BUFFERS};
use crate::algorithm::{self, Algorithm, Engine};
use crate::error::Error;

/// Why a pass stopped.
pub(super) enum PassError {
    Read(io::Error),
    Digest(Error),
}

/// The read error of a pass whose caller gave up on it (see
/// [`run_pass`]'s `cancel`).
pub(super) fn aborted() -> io::Error {
    io::Error::other("the pass was aborted")
}

fn check(cancel: &AtomicBool) -> Result<(), PassError> {
    if cancel.load(Ordering::Acquire) {
        return Err(PassError::Read(aborted()));
    }
    Ok(())
}

/// Splits the digests over at most `threads` workers so the slowest worker
/// has as little to do as can be (longest-cost-first onto the least loaded
/// worker, by each algorithm's measured cost).
pub(super) fn assign(algorithms: &[Algorithm], threads: usize) -> Vec<Vec<Algorithm>> {
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

pub(super) struct Progress<'a> {
    label: &'a str,
    total: Option<u64>,
    pub(super) started: Instant,
    next: Option<Instant>,
    interval: Option<Duration>,
}

impl<'a> Progress<'a> {
    pub(super) fn new(label: &'a str, total: Option<u64>, interval: Option<Duration>) -> Self {
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
                target: super::LOG_TARGET,
                "hashing {}: {done} of {total} bytes ({:.0}%), {rate:.0} MB/s",
                self.label,
                done as f64 * 100.0 / total as f64
            ),
            _ => {
                log::info!(target: super::LOG_TARGET, "hashing {}: {done} bytes, {rate:.0} MB/s", self.label)
            }
        }
    }
}

/// Reads `reader` to its end and hashes it. Once `cancel` is set the pass
/// stops at the next chunk, hashing nothing more, and fails with
/// [`aborted`]: a cancelled pass never returns digests.
pub(super) fn run_pass<R: Read>(
    mut reader: R,
    algorithms: &[Algorithm],
    options: &HashOptions,
    progress: &mut Progress<'_>,
    cancel: &AtomicBool,
) -> Result<FileDigests, PassError> {
    let mut wanted = algorithms.to_vec();
    wanted.sort();
    wanted.dedup();
    let chunk_size = options.chunk_size.max(1);
    let threads = options.thread_budget();

    // blake3 alone: its own multi-threaded tree hashing, fed chunk by chunk.
    if wanted == [Algorithm::Blake3] && threads > 1 {
        let engine = algorithm::blake3_multithreaded(threads).map_err(PassError::Digest)?;
        return run_serial(reader, wanted[0], engine, chunk_size, progress, cancel);
    }
    let groups = assign(&wanted, threads);
    if groups.is_empty() {
        let mut buffer = vec![0u8; chunk_size];
        let mut bytes = 0u64;
        loop {
            let n = fill(&mut reader, &mut buffer).map_err(PassError::Read)?;
            check(cancel)?;
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
            handles.push(scope.spawn(move || worker(group, rx, slots, free_tx, cancel)));
        }
        // Only workers may free slots now: if they all stop, recv fails.
        drop(free_tx);

        let read = read_into_slots(&mut reader, &slots, &free_rx, &to_workers, progress, cancel);
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
        // The workers skipped what came after the cancel: no digest.
        check(cancel)?;
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
    cancel: &AtomicBool,
) -> io::Result<u64> {
    let mut bytes = 0u64;
    loop {
        let Ok(i) = free_rx.recv() else {
            return Ok(bytes); // every worker stopped; they report why
        };
        if cancel.load(Ordering::Acquire) {
            return Err(aborted());
        }
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
/// reports the failure at the end. Once `cancel` is set it only frees the
/// slots it is sent, hashing none.
fn worker(
    algorithms: &[Algorithm],
    rx: Receiver<usize>,
    slots: &[Slot],
    free_tx: SyncSender<usize>,
    cancel: &AtomicBool,
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
        if failure.is_none() && !cancel.load(Ordering::Acquire) {
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

pub(super) fn run_serial<R: Read>(
    mut reader: R,
    algorithm: Algorithm,
    mut engine: Box<dyn Engine>,
    chunk_size: usize,
    progress: &mut Progress<'_>,
    cancel: &AtomicBool,
) -> Result<FileDigests, PassError> {
    let mut buffer = vec![0u8; chunk_size];
    let mut bytes = 0u64;
    loop {
        let n = fill(&mut reader, &mut buffer).map_err(PassError::Read)?;
        check(cancel)?;
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
