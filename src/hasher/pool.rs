//! Chunk buffers kept between passes, so that a long-running server's
//! passes reuse the same memory.
//!
//! Each pass runs on threads of its own, and glibc's malloc serves a
//! thread from one of its per-thread arenas: a fresh 1 MiB buffer per pass,
//! freed on another arena's thread later, left memory behind in arenas
//! that a worker's RSS kept (measured: a glance-api worker grew by up to
//! 23 MiB over 100 abandoned uploads). A few buffers kept here are reused
//! instead, and memory stays flat: at most [`KEPT`] buffers are kept, the
//! rest are freed as before.

use std::sync::Mutex;

/// Most buffers kept: two passes' worth at two threads.
pub(super) const KEPT: usize = 8;

static POOL: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// A buffer of `size` bytes: a kept one if there is one of that size.
pub(super) fn take(size: usize) -> Vec<u8> {
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    match pool.iter().position(|b| b.len() == size) {
        Some(i) => pool.swap_remove(i),
        None => {
            drop(pool);
            vec![0u8; size]
        }
    }
}

/// Keeps `buffers` for later passes, up to [`KEPT`] in all.
pub(super) fn give(buffers: impl IntoIterator<Item = Vec<u8>>) {
    let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
    for buffer in buffers {
        if pool.len() >= KEPT {
            break;
        }
        pool.push(buffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_at_their_size_and_the_pool_is_bounded() {
        // Other tests' passes share the pool: only what holds whatever
        // they do is checked.
        let size = 12_345; // no pass uses this size
        assert_eq!(take(size).len(), size);
        give((0..2 * KEPT).map(|_| vec![1u8; size]));
        assert!(POOL.lock().unwrap().len() <= KEPT);
        assert_eq!(take(size).len(), size);
    }
}
