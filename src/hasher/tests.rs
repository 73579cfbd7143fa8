use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use super::*;

#[test]
fn thread_bounds() {
    assert!(HashOptions::new(DEFAULT_CHUNK_SIZE, MAX_THREADS).is_ok());
    assert!(matches!(
        HashOptions::new(DEFAULT_CHUNK_SIZE, MAX_THREADS + 1),
        Err(Error::Argument(_))
    ));
}

#[test]
fn chunk_size_bounds() {
    assert!(HashOptions::with_chunk_size(MIN_CHUNK_SIZE).is_ok());
    assert!(HashOptions::with_chunk_size(MAX_CHUNK_SIZE).is_ok());
    assert!(matches!(
        HashOptions::with_chunk_size(MIN_CHUNK_SIZE - 1),
        Err(Error::Argument(_))
    ));
    assert!(matches!(
        HashOptions::with_chunk_size(MAX_CHUNK_SIZE + 1),
        Err(Error::Argument(_))
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
fn blake3_as_a_tree_agrees_with_blake3_at_every_size() {
    // Sizes around the subtree boundaries of 64 KiB chunks: empty, one
    // short chunk, exactly one, one and a bit, and counts of chunks that
    // leave the tree's stack with one to four values (7, 8, 13 chunks).
    let chunk = 64 << 10;
    let data: Vec<u8> = (0..(16 * chunk + 3) as u32)
        .map(|i| (i % 251) as u8)
        .collect();
    let sizes = [
        0,
        1,
        1023,
        1024,
        chunk - 1,
        chunk,
        chunk + 1,
        2 * chunk,
        3 * chunk + 5,
        7 * chunk,
        8 * chunk,
        8 * chunk + 1024,
        13 * chunk + 100,
        16 * chunk + 3,
    ];
    for threads in [1, 2, 3, 8] {
        for &size in &sizes {
            let options = HashOptions {
                chunk_size: chunk,
                threads,
                progress_interval: None,
            };
            for algorithms in [
                &[Algorithm::Blake3][..],
                &[Algorithm::Blake3, Algorithm::Sha256],
            ] {
                let d = hash_reader(&data[..size], algorithms, &options).unwrap();
                assert_eq!(
                    d.digests[&Algorithm::Blake3],
                    blake3::hash(&data[..size]).as_bytes(),
                    "{size} bytes, {threads} threads"
                );
            }
        }
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

/// The reader of a stream's pass, watched: counts the bytes the pass reads
/// and, once it has read `first`, waits at the gate (telling `at_gate`)
/// until the stream is aborted before it reads on.
struct Gated {
    chunks: stream::Chunks,
    first: usize,
    read: Arc<AtomicUsize>,
    at_gate: Option<mpsc::Sender<()>>,
}

impl Read for Gated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.read.load(Ordering::SeqCst) >= self.first {
            if let Some(at_gate) = self.at_gate.take() {
                at_gate.send(()).unwrap();
            }
            // Bounded, so a regression fails the test instead of hanging.
            let deadline = Instant::now() + Duration::from_secs(30);
            while !self.chunks.cancelled() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let n = self.chunks.read(buf)?;
        self.read.fetch_add(n, Ordering::SeqCst);
        Ok(n)
    }
}

/// A stream whose pass has read one chunk and waits at the gate, with a
/// full queue of chunks behind it; and the count of bytes its pass read.
fn stream_with_a_backlog() -> (StreamHasher, Arc<AtomicUsize>) {
    let options = HashOptions {
        chunk_size: MIN_CHUNK_SIZE,
        threads: 2,
        progress_interval: Some(Duration::ZERO),
    };
    let read = Arc::new(AtomicUsize::new(0));
    let (at_gate, reached) = mpsc::channel();
    let watched = Arc::clone(&read);
    let mut stream = StreamHasher::start(
        &[Algorithm::Sha256, Algorithm::Md5],
        &options,
        move |chunks| Gated {
            chunks,
            first: MIN_CHUNK_SIZE,
            read: watched,
            at_gate: Some(at_gate),
        },
    )
    .unwrap();
    let chunk = vec![7u8; MIN_CHUNK_SIZE];
    stream.update(&chunk).unwrap();
    reached
        .recv_timeout(Duration::from_secs(30))
        .expect("the pass reads the first chunk");
    // The pass holds no queued chunk now: these fill the queue, no more.
    for _ in 0..stream::QUEUE {
        stream.update(&chunk).unwrap();
    }
    assert_eq!(read.load(Ordering::SeqCst), MIN_CHUNK_SIZE);
    (stream, read)
}

/// Runs `end` on `stream` on another thread; what is left of it once
/// `end` returns (a hang fails the test after 30 s).
fn ended<T: Send + 'static>(
    stream: StreamHasher,
    end: impl FnOnce(StreamHasher) -> T + Send + 'static,
) -> T {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || done.send(end(stream)).unwrap());
    result
        .recv_timeout(Duration::from_secs(30))
        .expect("the stream ends at once")
}

#[test]
fn abort_stops_the_pass_without_reading_the_backlog() {
    let (stream, read) = stream_with_a_backlog();
    let mut stream = ended(stream, |mut stream| {
        stream.abort();
        stream
    });
    // The four queued chunks were never read, so never hashed.
    assert_eq!(read.load(Ordering::SeqCst), MIN_CHUNK_SIZE);
    assert!(!stream.is_open());
    stream.abort(); // a second abort: nothing to do
    let err = stream.update(b"late").unwrap_err();
    assert!(
        matches!(err, Error::Argument(_)) && err.to_string().contains("after abort"),
        "{err}"
    );
    assert!(matches!(stream.update(b""), Err(Error::Argument(_))));
    let err = stream.finish().unwrap_err();
    assert!(
        matches!(err, Error::Argument(_)) && err.to_string().contains("after abort"),
        "{err}"
    );
}

#[test]
fn dropping_an_unfinished_stream_aborts_it() {
    let (stream, read) = stream_with_a_backlog();
    ended(stream, drop);
    assert_eq!(read.load(Ordering::SeqCst), MIN_CHUNK_SIZE);
    // Unfed, or fed a little: dropped all the same.
    drop(StreamHasher::new(&[Algorithm::Sha256], &HashOptions::default()).unwrap());
    let mut fed = StreamHasher::new(
        &[Algorithm::Md5, Algorithm::Sha512],
        &HashOptions::default(),
    )
    .unwrap();
    fed.update(&[1u8; 300_000]).unwrap();
    ended(fed, drop);
}

#[test]
fn abort_after_finish_changes_nothing() {
    let mut stream = StreamHasher::new(&[Algorithm::Sha256], &HashOptions::default()).unwrap();
    stream.update(b"abc").unwrap();
    assert!(stream.is_open());
    let digests = stream.finish().unwrap();
    assert_eq!(digests.bytes, 3);
    stream.abort();
    let err = stream.update(b"late").unwrap_err();
    assert!(err.to_string().contains("after finish"), "{err}");
}

#[test]
fn a_cancelled_pass_hashes_nothing_and_returns_no_digest() {
    let data = vec![3u8; 1 << 20];
    for threads in [1, 2, 4] {
        for algorithms in [
            &[][..],
            &[Algorithm::Blake3],
            &[Algorithm::Md5, Algorithm::Sha512],
        ] {
            let options = HashOptions {
                chunk_size: MIN_CHUNK_SIZE,
                threads,
                progress_interval: None,
            };
            let err = hash_reader_until(&data[..], algorithms, &options, &AtomicBool::new(true))
                .unwrap_err();
            assert!(err.to_string().contains("aborted"), "{err}");
        }
    }
}
