//! The one-pass hasher against reference implementations: arbitrary data,
//! split at arbitrary points by the reader, read in arbitrary chunk sizes
//! on 1 to 3 threads (and blake3 as a tree on 2 to 4), must give the
//! digests the references give in one call (RustCrypto for what the core takes from OpenSSL; one-shot
//! blake2/blake3 for the incremental ones).
#![no_main]

use std::io::Read;

use arbitrary::Arbitrary;
use digest::Digest;
use glance_import_guard::{hash_reader, Algorithm, HashOptions};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    data: Vec<u8>,
    splits: Vec<u16>,
    chunk_size: u16,
    threads: u8,
}

/// Returns the data in pieces of the given sizes (0 means "1").
struct Pieces<'a> {
    data: &'a [u8],
    sizes: std::iter::Cycle<std::vec::IntoIter<u16>>,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let want = self.sizes.next().map_or(usize::MAX, |s| s.max(1) as usize);
        let n = want.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn reference(a: Algorithm, data: &[u8]) -> Vec<u8> {
    match a {
        Algorithm::Md5 => md5::Md5::digest(data).to_vec(),
        Algorithm::Sha1 => sha1::Sha1::digest(data).to_vec(),
        Algorithm::Sha224 => sha2::Sha224::digest(data).to_vec(),
        Algorithm::Sha256 => sha2::Sha256::digest(data).to_vec(),
        Algorithm::Sha384 => sha2::Sha384::digest(data).to_vec(),
        Algorithm::Sha512 => sha2::Sha512::digest(data).to_vec(),
        Algorithm::Sha3_224 => sha3::Sha3_224::digest(data).to_vec(),
        Algorithm::Sha3_256 => sha3::Sha3_256::digest(data).to_vec(),
        Algorithm::Sha3_384 => sha3::Sha3_384::digest(data).to_vec(),
        Algorithm::Sha3_512 => sha3::Sha3_512::digest(data).to_vec(),
        Algorithm::Blake2b => blake2::Blake2b512::digest(data).to_vec(),
        Algorithm::Blake2s => blake2::Blake2s256::digest(data).to_vec(),
        Algorithm::Blake3 => blake3::hash(data).as_bytes().to_vec(),
    }
}

fuzz_target!(|input: Input| {
    let mut splits = input.splits;
    if splits.is_empty() {
        splits.push(0);
    }
    let reader = Pieces {
        data: &input.data,
        sizes: splits.into_iter().cycle(),
    };
    let options = HashOptions {
        chunk_size: (input.chunk_size as usize).max(1),
        threads: 1 + (input.threads % 3) as usize,
        progress_interval: None,
    };
    // Every algorithm in one pass; blake3 alone on its parallel path too.
    let got = hash_reader(reader, Algorithm::ALL, &options).unwrap();
    assert_eq!(got.bytes, input.data.len() as u64);
    for &a in Algorithm::ALL {
        assert_eq!(got.digests[&a], reference(a, &input.data), "{a}");
    }
    let alone = hash_reader(&input.data[..], &[Algorithm::Blake3], &options).unwrap();
    assert_eq!(
        alone.digests[&Algorithm::Blake3],
        reference(Algorithm::Blake3, &input.data)
    );
    // blake3 as a tree of 64 KiB subtrees (chunk sizes above are smaller
    // than the tree's least): the data repeated to up to 1 MiB, so that
    // any number of subtrees, and a short last one, come up.
    let long: Vec<u8> = input
        .data
        .iter()
        .copied()
        .cycle()
        .take(input.chunk_size as usize * 16)
        .collect();
    let tree = HashOptions {
        chunk_size: 64 << 10,
        threads: 2 + (input.threads % 3) as usize,
        progress_interval: None,
    };
    let got = hash_reader(&long[..], &[Algorithm::Blake3], &tree).unwrap();
    assert_eq!(
        got.digests[&Algorithm::Blake3],
        reference(Algorithm::Blake3, &long)
    );
});
