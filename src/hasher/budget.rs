//! How many threads a pass runs, and whether blake3 is hashed as a tree.
//!
//! `threads` counts every thread of the pass: the one that reads (the
//! caller) hashes too, so `threads = 1` is one thread reading and hashing
//! in turn, and no pass ever runs more busy threads than it is given.
//!
//! The work of a pass is reading ([`READ_COST`]) plus every digest
//! ([`Algorithm::cost`]), all in picoseconds per byte. A digest other than
//! a tree-hashed blake3 is a *chain*: it must see the chunks in order, so
//! one thread at a time works on it, whichever thread that is. Reading is a
//! chain too. So a pass can never go faster than its longest chain `L`,
//! and `W / L` threads (`W` the whole work) are enough to reach that, if
//! the cores allow. AUTO picks
//!
//! ```text
//! threads = min(cores, ceil(1.15 * W / L), chunks in the file)
//! ```
//!
//! The 15% covers what a real schedule loses against a perfect packing of
//! the chains (a thread waiting for a chunk, a chain's turn taken late): a
//! set whose `W / L` is just under a whole number gets one more thread.
//! With two cores every set but a single-chunk file gets two threads.
//!
//! Why a static rule and no calibration: the rule only needs the ratios of
//! the costs, which differ between CPUs far less than their speeds do (the
//! costs below are from a 2-core AMD EPYC; on a 2-core Intel Xeon with
//! AVX-512 and SHA-NI the same ratios hold within a factor of 1.5, and with
//! two cores no ratio can change the choice). A calibration would spend a
//! few milliseconds of every process hashing a buffer while a glance-api
//! worker serves requests, and a noisy neighbour during those milliseconds
//! would mis-set it for the life of the process. `make bench` checks the
//! rule on each machine it runs on: it fails when AUTO is more than 5%
//! slower than the best fixed thread count for any digest set.

use crate::algorithm::Algorithm;

use super::{HashOptions, AUTO_THREADS, MAX_BUFFERS, MAX_THREADS};

/// Reading a chunk from the page cache into a buffer, picoseconds per
/// byte: a `threads = 1` pass with no digest (`hash_file(path, [],
/// threads=1)`) took 0.16 to 0.27 s of CPU per GiB on a 2-core Intel Xeon,
/// 150 to 250 ps/B as the host's load varied. The rule takes the higher:
/// with two cores either gives two threads for every digest set.
pub(super) const READ_COST: u32 = 250;

/// Smallest chunk hashed as a blake3 subtree: below it the joins and the
/// hand-over between threads cost more than a second thread gains.
pub(super) const MIN_TREE_CHUNK: usize = 64 << 10;

/// What a pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Budget {
    /// Threads, the reading one included (at least 1).
    pub(super) threads: usize,
    /// blake3 is hashed as a tree of chunk-sized subtrees, any thread
    /// taking any chunk, instead of as a chain.
    pub(super) blake3_tree: bool,
    /// Buffers in the ring: one per thread plus two, at most
    /// [`MAX_BUFFERS`]; one for a lone thread, which hashes what it just
    /// read while it is still in its cache.
    pub(super) buffers: usize,
}

/// The cores this process may run on.
pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Whether blake3 can be hashed as subtrees of `chunk_size` bytes: the
/// subtrees of a blake3 tree are a power of two of its 1 KiB chunks.
pub(super) fn tree_chunk(chunk_size: usize) -> bool {
    chunk_size.is_power_of_two() && chunk_size >= MIN_TREE_CHUNK
}

/// The budget of a pass over `algorithms` (sorted, without duplicates)
/// with `options`, on `cores` cores, for `size` bytes if known.
pub(super) fn budget(
    algorithms: &[Algorithm],
    options: &HashOptions,
    cores: usize,
    size: Option<u64>,
) -> Budget {
    let chunks = size.map(|s| s.div_ceil(options.chunk_size.max(1) as u64).max(1));
    let tree_possible = algorithms.contains(&Algorithm::Blake3) && tree_chunk(options.chunk_size);
    let threads = match options.threads {
        AUTO_THREADS => auto(algorithms, tree_possible, cores),
        n => n.min(useful(algorithms, tree_possible)),
    };
    let threads = chunks
        .map_or(threads, |c| {
            threads.min(usize::try_from(c).unwrap_or(usize::MAX))
        })
        .clamp(1, MAX_THREADS);
    Budget {
        threads,
        blake3_tree: tree_possible && threads > 1,
        buffers: if threads == 1 {
            1
        } else {
            (threads + 2).min(MAX_BUFFERS)
        },
    }
}

/// Most threads that can ever be busy at once: one per chain and the
/// reader, or as many as there are buffers when blake3 is a tree.
fn useful(algorithms: &[Algorithm], tree: bool) -> usize {
    if tree {
        MAX_BUFFERS
    } else {
        algorithms.len() + 1
    }
}

fn auto(algorithms: &[Algorithm], tree: bool, cores: usize) -> usize {
    let chain = |a: &Algorithm| !(tree && *a == Algorithm::Blake3);
    let work: u64 =
        u64::from(READ_COST) + algorithms.iter().map(|a| u64::from(a.cost())).sum::<u64>();
    let longest = algorithms
        .iter()
        .filter(|a| chain(a))
        .map(|a| a.cost())
        .chain([READ_COST])
        .max()
        .map_or(1, u64::from);
    // ceil(1.15 * work / longest), in integers.
    let wanted = (115 * work).div_ceil(100 * longest);
    usize::try_from(wanted)
        .unwrap_or(usize::MAX)
        .clamp(1, cores.max(1))
        .min(useful(algorithms, tree))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Algorithm::*;

    fn auto_options() -> HashOptions {
        HashOptions::default()
    }

    #[test]
    fn one_core_gets_one_thread() {
        for set in [&[Md5, Sha512][..], &[Blake3], &[Sha256], &[]] {
            assert_eq!(budget(set, &auto_options(), 1, None).threads, 1);
        }
    }

    #[test]
    fn two_cores_give_every_set_two_threads() {
        for set in [
            &[Md5, Sha512][..],
            &[Md5, Sha256, Sha512],
            &[Blake3],
            &[Sha512],
            &[Sha1],
        ] {
            let b = budget(set, &auto_options(), 2, None);
            assert_eq!(b.threads, 2, "{set:?}");
            assert_eq!(b.buffers, 4);
        }
    }

    #[test]
    fn nothing_to_hash_is_one_thread() {
        // Only reading: a second thread would have nothing to do.
        assert_eq!(budget(&[], &auto_options(), 8, None).threads, 1);
    }

    #[test]
    fn more_cores_than_chains_are_left_alone() {
        // md5 (1116) + sha512 (814) + reading (250): W/L = 1.95, so 3
        // threads with the 15% slack, never 8.
        assert_eq!(budget(&[Md5, Sha512], &auto_options(), 8, None).threads, 3);
        // sha256 alone: reading and hashing, two threads.
        assert_eq!(budget(&[Sha256], &auto_options(), 8, None).threads, 2);
        // blake3 as a tree is bound by reading: (250 + 126) / 250 = 1.5.
        assert_eq!(budget(&[Blake3], &auto_options(), 8, None).threads, 2);
    }

    #[test]
    fn a_single_chunk_file_is_one_thread() {
        let b = budget(&[Md5, Sha512], &auto_options(), 4, Some(1000));
        assert_eq!(
            b,
            Budget {
                threads: 1,
                blake3_tree: false,
                buffers: 1
            }
        );
        assert_eq!(
            budget(&[Md5, Sha512], &auto_options(), 4, Some(0)).threads,
            1
        );
        assert_eq!(
            budget(&[Md5, Sha512], &auto_options(), 4, Some(2 << 20)).threads,
            2
        );
    }

    #[test]
    fn a_fixed_count_is_kept_up_to_what_can_be_busy() {
        let fixed = |threads| HashOptions {
            threads,
            ..HashOptions::default()
        };
        assert_eq!(budget(&[Md5, Sha512], &fixed(1), 2, None).threads, 1);
        assert_eq!(budget(&[Md5, Sha512], &fixed(3), 2, None).threads, 3);
        assert_eq!(budget(&[Md5, Sha512], &fixed(16), 2, None).threads, 3);
        assert_eq!(budget(&[Blake3], &fixed(16), 2, None).threads, MAX_BUFFERS);
        assert_eq!(budget(&[Blake3], &fixed(16), 2, None).buffers, MAX_BUFFERS);
    }

    #[test]
    fn blake3_is_a_tree_only_with_threads_and_power_of_two_chunks() {
        let with = |chunk_size, threads| HashOptions {
            chunk_size,
            threads,
            progress_interval: None,
        };
        assert!(budget(&[Blake3], &with(1 << 20, 2), 2, None).blake3_tree);
        assert!(!budget(&[Blake3], &with(1 << 20, 1), 2, None).blake3_tree);
        assert!(!budget(&[Blake3], &with(65_537, 2), 2, None).blake3_tree);
        assert!(!budget(&[Blake3], &with(32 << 10, 2), 2, None).blake3_tree);
        assert!(!budget(&[Md5], &with(1 << 20, 2), 2, None).blake3_tree);
    }
}
