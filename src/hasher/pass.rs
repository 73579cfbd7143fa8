//! One pass: a ring of reusable buffers, filled in order by the calling
//! thread and hashed by every thread of the pass.
//!
//! Every thread is alike but for reading, which only the caller does (the
//! reader need not be `Send`). A thread takes whichever task is ready:
//! the caller reads into a free buffer first (the others would wait for it
//! otherwise), then any thread takes the next chunk of the digest with the
//! most work waiting. A digest ("chain") is fed the chunks in order, one
//! thread at a time, and moves between threads as they free up: the work
//! is spread evenly whatever the costs of the digests on this CPU. blake3
//! is hashed as a tree when it can be ([`super::budget`]): each chunk is a
//! subtree any thread can hash, the subtrees are joined in order.
//!
//! A buffer is refilled once every digest is done with it, so a pass holds
//! `budget.buffers` chunks, whatever the file's size.

use std::collections::BTreeMap;
use std::io::{self, ErrorKind, Read};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use super::budget::{budget, cores, Budget};
use super::pool;
use super::schedule::{Chain, SlotState, State, Task, Work};
use super::tree::{subtree, Tree};
use super::{FileDigests, HashOptions};
use crate::algorithm::{Algorithm, Engine};
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
    pub(super) total: Option<u64>,
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

/// A buffer of the ring.
struct Slot {
    /// Written only by the caller while the slot is free; read by any
    /// number of hashing threads once filled.
    data: RwLock<Vec<u8>>,
}

struct Pass<'a> {
    state: Mutex<State>,
    changed: Condvar,
    buffers: Vec<Slot>,
    cancel: &'a AtomicBool,
    /// Bytes per chunk (a blake3 subtree's size).
    chunk_size: u64,
    /// A lone thread hashes what it has read before reading more.
    hash_first: bool,
}

impl Pass<'_> {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a task; None once the pass is over or stopped.
    fn next_task(&self, reader: bool) -> Option<Task> {
        let mut state = self.lock();
        loop {
            if self.cancel.load(Ordering::Acquire) {
                state.stop = true;
                self.changed.notify_all();
            }
            if state.stop || state.finished() {
                return None;
            }
            let task = match (reader, self.hash_first) {
                (false, _) => state.hash_task(),
                (true, false) => state.read_task().or_else(|| state.hash_task()),
                (true, true) => state.hash_task().or_else(|| state.read_task()),
            };
            if task.is_some() {
                return task;
            }
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Hashes chunk `seq` (`len` bytes in `slot`) for `work`, then hands
    /// the engine back, and the slot over if it was the last digest to
    /// need it. A panicking engine stops the pass with an error.
    fn hash(
        &self,
        work: usize,
        seq: u64,
        slot: usize,
        len: usize,
        mut engine: Option<Box<dyn Engine>>,
    ) {
        let result = {
            let data = self.buffers[slot]
                .data
                .read()
                .unwrap_or_else(|p| p.into_inner());
            let chunk = &data[..len];
            catch_unwind(AssertUnwindSafe(|| match engine.as_mut() {
                Some(engine) => {
                    engine.update(chunk);
                    None
                }
                None => Some(subtree(seq, self.chunk_size, chunk)),
            }))
        };
        let mut state = self.lock();
        match (&mut state.work[work], result) {
            (Work::Chain(c), Ok(None)) => {
                c.engine = engine;
                c.next += 1;
            }
            (Work::Tree(t), Ok(Some(subtree))) => t.join(seq, subtree),
            (w, _) => {
                let name = match w {
                    Work::Chain(c) => c.algorithm.name(),
                    Work::Tree(_) => Algorithm::Blake3.name(),
                };
                state.fail(Error::Internal(format!("hashing {name} panicked")));
            }
        }
        state.slots[slot].waiting -= 1;
        drop(state);
        self.changed.notify_all();
    }

    /// Reads the next chunk into `slot`: its length, 0 at the end.
    fn read<R: Read>(&self, reader: &mut R, slot: usize) -> io::Result<usize> {
        let filled = {
            let mut data = self.buffers[slot]
                .data
                .write()
                .unwrap_or_else(|p| p.into_inner());
            fill(reader, &mut data)
        };
        let mut state = self.lock();
        state.reading = false;
        match filled {
            Ok(0) => state.eof = true,
            Ok(len) => {
                let seq = state.read;
                let waiting = state.work.len();
                state.slots[slot] = SlotState { seq, len, waiting };
                state.read += 1;
            }
            Err(_) => state.stop = true,
        }
        drop(state);
        self.changed.notify_all();
        filled
    }

    /// What a helper thread does: hash until the pass is over.
    fn help(&self) {
        while let Some(task) = self.next_task(false) {
            if let Task::Hash {
                work,
                seq,
                slot,
                len,
                engine,
            } = task
            {
                self.hash(work, seq, slot, len, engine);
            }
        }
    }

    /// What the caller does: read, and hash too, until the pass is over.
    fn lead<R: Read>(&self, reader: &mut R, progress: &mut Progress<'_>) -> Result<u64, PassError> {
        let mut bytes = 0u64;
        while let Some(task) = self.next_task(true) {
            match task {
                Task::Read(slot) => {
                    let n = self.read(reader, slot).map_err(PassError::Read)?;
                    if n > 0 {
                        bytes += n as u64;
                        progress.update(bytes);
                    }
                }
                Task::Hash {
                    work,
                    seq,
                    slot,
                    len,
                    engine,
                } => self.hash(work, seq, slot, len, engine),
            }
        }
        Ok(bytes)
    }
}

/// Reads `reader` to its end and hashes it, on the threads of
/// [`super::budget`]. Once `cancel` is set the pass stops at the next
/// chunk, hashing nothing more, and fails with [`aborted`]: a cancelled
/// pass never returns digests.
pub(super) fn run_pass<R: Read>(
    mut reader: R,
    algorithms: &[Algorithm],
    options: &HashOptions,
    progress: &mut Progress<'_>,
    cancel: &AtomicBool,
) -> Result<FileDigests, PassError> {
    let wanted = super::distinct(algorithms);
    let budget = budget(&wanted, options, cores(), progress.total);
    run_with(
        &mut reader,
        &wanted,
        options.chunk_size,
        budget,
        progress,
        cancel,
    )
}

/// [`run_pass`] with the budget given.
pub(super) fn run_with<R: Read>(
    reader: &mut R,
    wanted: &[Algorithm],
    chunk_size: usize,
    budget: Budget,
    progress: &mut Progress<'_>,
    cancel: &AtomicBool,
) -> Result<FileDigests, PassError> {
    let mut work = Vec::with_capacity(wanted.len());
    for &algorithm in wanted {
        work.push(if algorithm == Algorithm::Blake3 && budget.blake3_tree {
            Work::Tree(Box::new(Tree::new()))
        } else {
            Work::Chain(Chain {
                algorithm,
                engine: Some(algorithm.engine().map_err(PassError::Digest)?),
                next: 0,
            })
        });
    }
    let buffers = budget.buffers;
    let pass = Pass {
        state: Mutex::new(State {
            slots: vec![
                SlotState {
                    seq: 0,
                    len: 0,
                    waiting: 0
                };
                buffers
            ],
            work,
            read: 0,
            reading: false,
            eof: false,
            stop: false,
            failure: None,
        }),
        changed: Condvar::new(),
        buffers: (0..buffers)
            .map(|_| Slot {
                data: RwLock::new(pool::take(chunk_size.max(1))),
            })
            .collect(),
        cancel,
        chunk_size: chunk_size as u64,
        hash_first: budget.threads == 1,
    };
    let bytes = std::thread::scope(|scope| {
        for i in 1..budget.threads {
            let pass = &pass;
            // A thread that cannot be started leaves its share to the others.
            if let Err(e) = std::thread::Builder::new()
                .name(format!("guard-hash-{i}"))
                .spawn_scoped(scope, move || pass.help())
            {
                log::warn!(target: super::LOG_TARGET, "could not start a hashing thread: {e}");
                break;
            }
        }
        // A read error has set `stop` (Pass::read): the helpers end too.
        pass.lead(reader, progress)
    });
    pool::give(
        pass.buffers
            .into_iter()
            .map(|slot| slot.data.into_inner().unwrap_or_else(|p| p.into_inner())),
    );
    let bytes = bytes?;
    let state = pass.state.into_inner().unwrap_or_else(|p| p.into_inner());
    if cancel.load(Ordering::Acquire) {
        return Err(PassError::Read(aborted()));
    }
    if let Some(e) = state.failure {
        return Err(PassError::Digest(e));
    }
    let mut digests = BTreeMap::new();
    for w in state.work {
        match w {
            Work::Chain(c) => {
                let engine = c
                    .engine
                    .expect("every engine is back once the pass is over");
                digests.insert(c.algorithm, engine.finish().map_err(PassError::Digest)?);
            }
            Work::Tree(t) => {
                digests.insert(Algorithm::Blake3, t.finish());
            }
        }
    }
    Ok(FileDigests { bytes, digests })
}
