//! The pass over bytes that arrive chunk by chunk (a request body as the
//! server reads it), as blake3-py's `update()` is to its `update_mmap()`.
//!
//! The chunks go through a short bounded queue to a thread that runs the
//! very pass a file gets ([`super::hash_reader`]): the same ring of
//! buffers, the same worker threads and the same bounds. The caller's
//! `update` returns as soon as the chunk is queued, so hashing overlaps the
//! caller's own work (writing the chunk to a store); when the hashing falls
//! behind, `update` waits, so memory stays bounded.
//!
//! The chunk buffers go back to the caller once hashed and are reused, so
//! a long stream allocates nothing per chunk. A fresh allocation per chunk,
//! freed on another thread, made glibc's allocator return and refault
//! memory under the server's own buffers: measured on a real glance-api,
//! it cost the upload thread more than all of the guard's hashing.
//!
//! An abandoned stream (a client gone mid-body) is aborted, explicitly or
//! when dropped: the pass stops at its next chunk without hashing what is
//! still queued, and its threads are joined. The caller of `abort` or the
//! dropper must not hold anything the pass's threads could wait for (the
//! bindings release the GIL meanwhile).

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::pass::aborted;
use super::{hash_reader_until, FileDigests, HashOptions};
use crate::algorithm::Algorithm;
use crate::error::Error;

/// Chunks queued between the caller and the pass, at most.
pub(super) const QUEUE: usize = 4;

/// Reads the queued chunks in order, handing each buffer back once read;
/// the end of the stream is the sender going away. Once the stream is
/// aborted every read fails: what is still queued is never read.
pub(super) struct Chunks {
    rx: Receiver<Vec<u8>>,
    spent: Sender<Vec<u8>>,
    current: Vec<u8>,
    offset: usize,
    cancel: Arc<AtomicBool>,
}

impl Chunks {
    /// Whether the stream was aborted.
    pub(super) fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }
}

impl Read for Chunks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.cancelled() {
                return Err(aborted());
            }
            if self.offset < self.current.len() {
                break;
            }
            match self.rx.recv() {
                Ok(chunk) => {
                    let done = std::mem::replace(&mut self.current, chunk);
                    self.offset = 0;
                    // The caller may be gone already; then the buffer is
                    // simply freed.
                    let _ = self.spent.send(done);
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.offset);
        buf[..n].copy_from_slice(&self.current[self.offset..self.offset + n]);
        self.offset += n;
        Ok(n)
    }
}

/// One pass over a stream: [`update`](Self::update) with each chunk, then
/// [`finish`](Self::finish), or [`abort`](Self::abort) to give up on it.
/// Dropped unfinished (a client that went away), it aborts.
pub struct StreamHasher {
    tx: Option<SyncSender<Vec<u8>>>,
    /// Buffers the pass is done with, to fill again.
    spent: Receiver<Vec<u8>>,
    pass: Option<JoinHandle<Result<FileDigests, Error>>>,
    /// Set by [`abort`](Self::abort); the pass checks it between chunks.
    cancel: Arc<AtomicBool>,
}

impl StreamHasher {
    /// Starts a pass computing every algorithm of `algorithms`.
    pub fn new(algorithms: &[Algorithm], options: &HashOptions) -> Result<Self, Error> {
        Self::start(algorithms, options, |chunks| chunks)
    }

    /// [`new`](Self::new), the pass reading the chunks through
    /// `wrap(chunks)` (the tests watch what it reads).
    pub(super) fn start<R: Read>(
        algorithms: &[Algorithm],
        options: &HashOptions,
        wrap: impl FnOnce(Chunks) -> R + Send + 'static,
    ) -> Result<Self, Error> {
        let (tx, rx) = sync_channel(QUEUE);
        let (spent_tx, spent) = channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let algorithms = algorithms.to_vec();
        let options = *options;
        let chunks = Chunks {
            rx,
            spent: spent_tx,
            current: Vec::new(),
            offset: 0,
            cancel: Arc::clone(&cancel),
        };
        let pass_cancel = Arc::clone(&cancel);
        let pass = std::thread::Builder::new()
            .name("guard-stream".into())
            .spawn(move || hash_reader_until(wrap(chunks), &algorithms, &options, &pass_cancel))
            .map_err(|e| Error::Internal(format!("cannot start a hashing thread: {e}")))?;
        Ok(StreamHasher {
            tx: Some(tx),
            spent,
            pass: Some(pass),
            cancel,
        })
    }

    fn aborted(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    /// Whether the stream still takes chunks: neither finished nor aborted.
    pub fn is_open(&self) -> bool {
        self.pass.is_some()
    }

    /// Hashes `chunk` after the ones before it. Waits while the pass is
    /// [`QUEUE`] chunks behind. An error means the pass stopped (a digest
    /// library failed; the stream is then finished), or the stream was
    /// finished or aborted.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.aborted() {
            return Err(Error::Argument("update() after abort()".into()));
        }
        if chunk.is_empty() {
            return Ok(());
        }
        let Some(tx) = &self.tx else {
            return Err(Error::Argument("update() after finish()".into()));
        };
        // At most QUEUE + 2 buffers exist: the queued ones, the one being
        // read and the one being filled.
        let mut buffer = self.spent.try_recv().unwrap_or_default();
        buffer.clear();
        buffer.extend_from_slice(chunk);
        if tx.send(buffer).is_err() {
            // The pass ended before the stream did: it says why.
            return match self.finish() {
                Err(e) => Err(e),
                Ok(_) => Err(Error::Internal("the hashing pass ended early".into())),
            };
        }
        Ok(())
    }

    /// Ends the stream and returns what the pass computed; a second call,
    /// or a call after [`abort`](Self::abort), is an error.
    pub fn finish(&mut self) -> Result<FileDigests, Error> {
        if self.aborted() {
            return Err(Error::Argument("finish() after abort()".into()));
        }
        drop(self.tx.take());
        let pass = self
            .pass
            .take()
            .ok_or_else(|| Error::Argument("finish() after finish()".into()))?;
        pass.join()
            .unwrap_or_else(|_| Err(Error::Internal("the hashing pass panicked".into())))
    }

    /// Gives up on the stream: the pass stops at its next chunk without
    /// hashing what is still queued, its threads are joined (this waits at
    /// most for the chunk being hashed), and the bytes are forgotten.
    /// [`update`](Self::update) and [`finish`](Self::finish) are errors
    /// afterwards. A no-op on a stream already finished or aborted.
    pub fn abort(&mut self) {
        let Some(pass) = self.pass.take() else {
            return;
        };
        self.cancel.store(true, Ordering::Release);
        drop(self.tx.take());
        let _ = pass.join();
        // The pass's thread is gone with the queue; the buffers it handed
        // back go too.
        while self.spent.try_recv().is_ok() {}
    }
}

impl Drop for StreamHasher {
    fn drop(&mut self) {
        self.abort();
    }
}
