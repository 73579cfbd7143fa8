use std::io;
use std::path::Path;

use super::pass::assign;
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
