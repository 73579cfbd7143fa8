//! blake3 as a tree of chunk-sized subtrees: any thread hashes any chunk
//! as the subtree at its offset (`blake3::hazmat`), and the subtrees are
//! joined in order as they finish, exactly as blake3's own hasher joins
//! its 1 KiB chunks. A chunk size that is a power of two of blake3's
//! chunks makes every subtree but the last a whole one, as the tree
//! requires ([`super::budget::tree_chunk`]).

use std::collections::BTreeMap;

use blake3::hazmat::{
    merge_subtrees_non_root, merge_subtrees_root, ChainingValue, HasherExt, Mode,
};

/// blake3 as a tree of chunk-sized subtrees.
pub(super) struct Tree {
    /// The next chunk no thread has taken yet.
    pub(super) next: u64,
    /// Subtrees hashed, not yet joined (they finish out of order).
    finished: BTreeMap<u64, Subtree>,
    /// Subtrees joined so far.
    pub(super) joined: u64,
    /// The first subtree: the root itself if it stays the only one.
    first: Option<blake3::Hasher>,
    /// Chaining values of joined subtrees, merged as blake3's own hasher
    /// merges its chunks': after `n` subtrees, one per bit set in `n`.
    stack: Vec<ChainingValue>,
}

pub(super) enum Subtree {
    First(Box<blake3::Hasher>),
    Later(ChainingValue),
}

impl Tree {
    pub(super) fn new() -> Self {
        Tree {
            next: 0,
            finished: BTreeMap::new(),
            joined: 0,
            first: None,
            stack: Vec::new(),
        }
    }

    pub(super) fn join(&mut self, seq: u64, subtree: Subtree) {
        self.finished.insert(seq, subtree);
        while let Some(subtree) = self.finished.remove(&self.joined) {
            match subtree {
                Subtree::First(hasher) => self.first = Some(*hasher),
                Subtree::Later(cv) => {
                    if let Some(first) = self.first.take() {
                        self.stack.push(first.finalize_non_root());
                    }
                    // Lazy merging: the subtrees before this one, `joined`
                    // of them, leave one value per bit set in `joined`.
                    while self.stack.len() > self.joined.count_ones() as usize {
                        let right = self.stack.pop().expect("two values to merge");
                        let left = self.stack.pop().expect("two values to merge");
                        self.stack
                            .push(merge_subtrees_non_root(&left, &right, Mode::Hash));
                    }
                    self.stack.push(cv);
                }
            }
            self.joined += 1;
        }
    }

    pub(super) fn finish(mut self) -> Vec<u8> {
        if let Some(first) = self.first.take() {
            return first.finalize().as_bytes().to_vec();
        }
        let Some(mut right) = self.stack.pop() else {
            return blake3::Hasher::new().finalize().as_bytes().to_vec();
        };
        loop {
            let left = self.stack.pop().expect("a tree of two subtrees or more");
            if self.stack.is_empty() {
                return merge_subtrees_root(&left, &right, Mode::Hash)
                    .as_bytes()
                    .to_vec();
            }
            right = merge_subtrees_non_root(&left, &right, Mode::Hash);
        }
    }
}

/// Hashes chunk `seq` of a blake3 tree.
pub(super) fn subtree(seq: u64, chunk_size: u64, data: &[u8]) -> Subtree {
    let mut hasher = blake3::Hasher::new();
    if seq == 0 {
        hasher.update(data);
        return Subtree::First(Box::new(hasher));
    }
    hasher.set_input_offset(seq * chunk_size);
    hasher.update(data);
    Subtree::Later(hasher.finalize_non_root())
}
