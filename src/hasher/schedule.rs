//! What a thread of the pass does next: the pass's shared state (which
//! chunks are read, which digest needs which chunk, which buffer is free)
//! and its choice of task. Everything here runs under the pass's lock and
//! only decides; `pass` does the reading and hashing.

use crate::algorithm::{Algorithm, Engine};
use crate::error::Error;

use super::tree::Tree;

/// A digest fed every chunk in order.
pub(super) struct Chain {
    pub(super) algorithm: Algorithm,
    /// None while a thread is feeding it.
    pub(super) engine: Option<Box<dyn Engine>>,
    /// The next chunk it needs.
    pub(super) next: u64,
}

pub(super) enum Work {
    Chain(Chain),
    Tree(Box<Tree>),
}

impl Work {
    pub(super) fn cost(&self) -> u64 {
        match self {
            Work::Chain(c) => u64::from(c.algorithm.cost()),
            Work::Tree(_) => u64::from(Algorithm::Blake3.cost()),
        }
    }

    /// The next chunk it can be given now, if any, of `read` read so far.
    pub(super) fn ready(&self, read: u64) -> Option<u64> {
        match self {
            Work::Chain(c) => (c.engine.is_some() && c.next < read).then_some(c.next),
            Work::Tree(t) => (t.next < read).then_some(t.next),
        }
    }

    pub(super) fn waiting(&self, read: u64) -> u64 {
        match self {
            Work::Chain(c) => read - c.next,
            Work::Tree(t) => read - t.next,
        }
    }

    pub(super) fn done(&self, read: u64) -> bool {
        match self {
            Work::Chain(c) => c.engine.is_some() && c.next == read,
            Work::Tree(t) => t.joined == read,
        }
    }
}

#[derive(Clone, Copy)]
pub(super) struct SlotState {
    /// The chunk it holds.
    pub(super) seq: u64,
    pub(super) len: usize,
    /// Digests still to hash it; 0: free.
    pub(super) waiting: usize,
}

pub(super) struct State {
    pub(super) slots: Vec<SlotState>,
    pub(super) work: Vec<Work>,
    /// Chunks read so far.
    pub(super) read: u64,
    /// Set by the caller while it reads (so it takes no other slot).
    pub(super) reading: bool,
    pub(super) eof: bool,
    /// The pass stops: an error, a panic or a cancel.
    pub(super) stop: bool,
    pub(super) failure: Option<Error>,
}

pub(super) enum Task {
    Read(usize),
    Hash {
        work: usize,
        seq: u64,
        slot: usize,
        len: usize,
        /// A chain's engine, taken while it is fed; None for a subtree.
        engine: Option<Box<dyn Engine>>,
    },
}

impl State {
    pub(super) fn finished(&self) -> bool {
        self.eof && self.work.iter().all(|w| w.done(self.read))
    }

    pub(super) fn free_slot(&self) -> Option<usize> {
        self.slots.iter().position(|s| s.waiting == 0)
    }

    pub(super) fn slot_of(&self, seq: u64) -> usize {
        self.slots
            .iter()
            .position(|s| s.waiting > 0 && s.seq == seq)
            .expect("a chunk not yet hashed by every digest is in a slot")
    }

    /// The next chunk of the digest with the most work waiting.
    pub(super) fn hash_task(&mut self) -> Option<Task> {
        let read = self.read;
        let (work, seq) = self
            .work
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                w.ready(read)
                    .map(|seq| (i, seq, w.waiting(read) * w.cost()))
            })
            .max_by_key(|&(i, _, load)| (load, std::cmp::Reverse(i)))
            .map(|(i, seq, _)| (i, seq))?;
        let slot = self.slot_of(seq);
        let len = self.slots[slot].len;
        let engine = match &mut self.work[work] {
            Work::Chain(c) => c.engine.take(),
            Work::Tree(t) => {
                t.next += 1;
                None
            }
        };
        Some(Task::Hash {
            work,
            seq,
            slot,
            len,
            engine,
        })
    }

    pub(super) fn read_task(&mut self) -> Option<Task> {
        if self.eof || self.reading {
            return None;
        }
        let slot = self.free_slot()?;
        self.reading = true;
        Some(Task::Read(slot))
    }

    pub(super) fn fail(&mut self, e: Error) {
        self.failure.get_or_insert(e);
        self.stop = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(algorithm: Algorithm, next: u64) -> Work {
        Work::Chain(Chain {
            algorithm,
            engine: Some(algorithm.engine().unwrap()),
            next,
        })
    }

    /// Chunks 0..3 read into slots 0..3; md5 needs all three, sha256 only
    /// the last; slot 3 is free.
    fn state() -> State {
        let slot = |seq, waiting| SlotState {
            seq,
            len: 10,
            waiting,
        };
        State {
            slots: vec![slot(0, 1), slot(1, 1), slot(2, 2), slot(0, 0)],
            work: vec![chain(Algorithm::Sha256, 2), chain(Algorithm::Md5, 0)],
            read: 3,
            reading: false,
            eof: false,
            stop: false,
            failure: None,
        }
    }

    fn hash_of(task: Option<Task>) -> Option<(usize, u64, usize)> {
        match task? {
            Task::Hash {
                work, seq, slot, ..
            } => Some((work, seq, slot)),
            Task::Read(_) => panic!("a read where a hash was wanted"),
        }
    }

    #[test]
    fn the_digest_with_most_work_waiting_goes_first_and_one_thread_at_a_time() {
        let mut s = state();
        // md5: 3 chunks at 1116 ps/B, before sha256's 1 at 476.
        assert_eq!(hash_of(s.hash_task()), Some((1, 0, 0)));
        // md5 is being fed: its next chunk waits; sha256 is free.
        assert_eq!(hash_of(s.hash_task()), Some((0, 2, 2)));
        assert!(s.hash_task().is_none());
        assert!(!s.finished());
    }

    #[test]
    fn one_read_at_a_time_into_a_free_slot_until_the_end() {
        let mut s = state();
        assert!(matches!(s.read_task(), Some(Task::Read(3))));
        assert!(s.read_task().is_none(), "the caller is reading already");
        s.reading = false;
        s.eof = true;
        assert!(s.read_task().is_none(), "nothing is read after the end");
    }

    #[test]
    fn a_tree_gives_its_chunks_to_several_threads_at_once() {
        let mut s = state();
        s.work = vec![Work::Tree(Box::new(Tree::new()))];
        for slot in &mut s.slots[..3] {
            slot.waiting = 1;
        }
        assert_eq!(hash_of(s.hash_task()), Some((0, 0, 0)));
        assert_eq!(hash_of(s.hash_task()), Some((0, 1, 1)));
        assert_eq!(hash_of(s.hash_task()), Some((0, 2, 2)));
        assert!(s.hash_task().is_none());
    }

    #[test]
    fn the_pass_is_over_when_every_digest_has_every_chunk_after_the_end() {
        let mut s = state();
        s.eof = true;
        assert!(!s.finished());
        for w in &mut s.work {
            if let Work::Chain(c) = w {
                c.next = 3;
            }
        }
        assert!(s.finished());
    }
}
