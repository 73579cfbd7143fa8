//! Known-answer vectors from tests/vectors/digests.json (hashlib and the
//! BLAKE3 team's published vectors), fed through the one-pass hasher at
//! several read sizes so chunk boundaries fall everywhere.

use std::collections::BTreeMap;
use std::io::Write;

use glance_import_guard::{hash_file, hash_reader, Algorithm, HashOptions, StreamHasher};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    input_len: usize,
    source: String,
    digests: BTreeMap<String, String>,
}

fn vectors() -> Vectors {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/digests.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

#[test]
fn every_algorithm_has_vectors() {
    let v = vectors();
    for a in Algorithm::ALL {
        let n = v
            .cases
            .iter()
            .filter(|c| c.digests.contains_key(a.name()))
            .count();
        assert!(n >= 5, "{a} has only {n} vectors");
    }
}

#[test]
fn all_algorithms_in_one_pass_at_many_read_sizes() {
    let mut checked = 0;
    for case in vectors().cases {
        let data = pattern(case.input_len);
        let algorithms: Vec<Algorithm> = case.digests.keys().map(|n| n.parse().unwrap()).collect();
        for chunk_size in [1, 7, 64, 1000, 4096, 1 << 20] {
            if chunk_size < 64 && case.input_len > 64 << 10 {
                continue; // byte-at-a-time over megabytes adds time, not coverage
            }
            let options = HashOptions {
                chunk_size,
                ..HashOptions::default()
            };
            // A slice reader returns at most chunk_size per read; this is
            // the loop the file path runs too.
            let got = hash_reader(&data[..], &algorithms, &options).unwrap();
            assert_eq!(got.bytes, case.input_len as u64);
            for (name, expected) in &case.digests {
                let a: Algorithm = name.parse().unwrap();
                assert_eq!(
                    got.hex(a).unwrap(),
                    *expected,
                    "{name} of {} bytes ({}) at chunk size {chunk_size}",
                    case.input_len,
                    case.source
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 1000, "only {checked} digests checked");
}

#[test]
fn file_path_gives_the_same_digests() {
    let dir = std::env::temp_dir().join(format!("guard-kat-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for case in vectors().cases.iter().filter(|c| c.source == "hashlib") {
        let path = dir.join(format!("{}.bin", case.input_len));
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&pattern(case.input_len))
            .unwrap();
        let got = hash_file(
            &path,
            Algorithm::ALL,
            &HashOptions::with_chunk_size(4096).unwrap(),
        )
        .unwrap();
        for (name, expected) in &case.digests {
            assert_eq!(
                got.hex(name.parse().unwrap()).unwrap(),
                *expected,
                "{name} of {}",
                case.input_len
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn reference<D: digest::Digest>(data: &[u8]) -> String {
    hex::encode(D::digest(data))
}

/// The OpenSSL-backed digests against RustCrypto's, an implementation that
/// shares no code with OpenSSL (hashlib, which made the vectors above, is
/// OpenSSL too).
#[test]
fn openssl_backed_digests_agree_with_rustcrypto() {
    type Reference = fn(&[u8]) -> String;
    let references: [(Algorithm, Reference); 10] = [
        (Algorithm::Md5, reference::<md5::Md5>),
        (Algorithm::Sha1, reference::<sha1::Sha1>),
        (Algorithm::Sha224, reference::<sha2::Sha224>),
        (Algorithm::Sha256, reference::<sha2::Sha256>),
        (Algorithm::Sha384, reference::<sha2::Sha384>),
        (Algorithm::Sha512, reference::<sha2::Sha512>),
        (Algorithm::Sha3_224, reference::<sha3::Sha3_224>),
        (Algorithm::Sha3_256, reference::<sha3::Sha3_256>),
        (Algorithm::Sha3_384, reference::<sha3::Sha3_384>),
        (Algorithm::Sha3_512, reference::<sha3::Sha3_512>),
    ];
    let algorithms: Vec<Algorithm> = references.iter().map(|(a, _)| *a).collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for len in [
        0usize,
        1,
        63,
        64,
        65,
        1000,
        4096,
        100_003,
        1 << 20,
        2_500_001,
    ] {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let got = hash_reader(&data[..], &algorithms, &HashOptions::default()).unwrap();
        for (a, f) in &references {
            assert_eq!(got.hex(*a).unwrap(), f(&data), "{a} of {len} bytes");
        }
    }
}

/// The stream form against RustCrypto, fed in chunks of every awkward size
/// (1 byte, primes, larger than the pass's buffers), on one thread and on
/// several: the same digests as the whole data hashed by another library.
#[test]
fn stream_in_any_chunking_agrees_with_rustcrypto() {
    let data: Vec<u8> = (0..3_000_017u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let algorithms = [Algorithm::Md5, Algorithm::Sha256, Algorithm::Sha512];
    for threads in [1, 3] {
        for chunk in [1usize, 7, 4093, 65_536, 1_000_003, 4 << 20] {
            let data = if chunk == 1 {
                &data[..20_000]
            } else {
                &data[..]
            };
            let options = HashOptions::new(4096 * 16, threads).unwrap();
            let mut stream = StreamHasher::new(&algorithms, &options).unwrap();
            for piece in data.chunks(chunk) {
                stream.update(piece).unwrap();
            }
            let got = stream.finish().unwrap();
            assert_eq!(got.bytes, data.len() as u64);
            assert_eq!(
                got.hex(Algorithm::Md5).unwrap(),
                reference::<md5::Md5>(data)
            );
            assert_eq!(
                got.hex(Algorithm::Sha256).unwrap(),
                reference::<sha2::Sha256>(data)
            );
            assert_eq!(
                got.hex(Algorithm::Sha512).unwrap(),
                reference::<sha2::Sha512>(data),
                "chunk {chunk}"
            );
        }
    }
}

#[test]
fn stream_ends_cleanly_however_it_is_left() {
    let options = HashOptions::default();
    // Empty: the digests of nothing.
    let mut empty = StreamHasher::new(&[Algorithm::Sha256], &options).unwrap();
    assert_eq!(
        empty.finish().unwrap().hex(Algorithm::Sha256).unwrap(),
        reference::<sha2::Sha256>(b"")
    );
    // Finished twice, or fed after finishing: an error, not a panic.
    assert!(empty.finish().is_err());
    assert!(empty.update(b"late").is_err());
    // Abandoned midway (a client that went away): dropping it stops its
    // threads, many times over without piling threads up (a leak would
    // leave 50 or more; tests running beside this one use a few).
    let threads_before = threads_of_this_process();
    for _ in 0..50 {
        let mut stream = StreamHasher::new(&[Algorithm::Md5, Algorithm::Sha512], &options).unwrap();
        stream.update(&[7u8; 300_000]).unwrap();
    }
    assert!(threads_of_this_process() < threads_before + 20);
}

fn threads_of_this_process() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}
