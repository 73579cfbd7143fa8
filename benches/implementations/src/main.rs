//! Single-core throughput of each digest implementation the guard could
//! use, on the same 256 MiB buffer fed in 1 MiB updates (the guard's read
//! size), best of 3:
//!
//!     cargo run --release                       # RustCrypto sha2, pure Rust
//!     cargo run --release --features sha2-asm   # RustCrypto sha2, asm backend
//!
//! The `openssl` rows are the system libcrypto, the code Python's hashlib
//! (and so Glance) runs.

use std::time::Instant;

const LEN: usize = 256 << 20;
const UPDATE: usize = 1 << 20;

fn measure(name: &str, data: &[u8], mut run: impl FnMut(&[u8]) -> usize) {
    let best = (0..3)
        .map(|_| {
            let t = Instant::now();
            let n = run(data);
            assert!(n > 0);
            LEN as f64 / 1e6 / t.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max);
    println!("{name:<28} {best:>7.0} MB/s");
}

fn rust_crypto<D: digest::Digest>(data: &[u8]) -> usize {
    let mut d = D::new();
    for c in data.chunks(UPDATE) {
        d.update(c);
    }
    d.finalize().len()
}

fn ring_digest(alg: &'static ring::digest::Algorithm, data: &[u8]) -> usize {
    let mut d = ring::digest::Context::new(alg);
    for c in data.chunks(UPDATE) {
        d.update(c);
    }
    d.finish().as_ref().len()
}

fn openssl_digest(md: openssl::hash::MessageDigest, data: &[u8]) -> usize {
    let mut h = openssl::hash::Hasher::new(md).unwrap();
    for c in data.chunks(UPDATE) {
        h.update(c).unwrap();
    }
    h.finish().unwrap().len()
}

fn main() {
    let data: Vec<u8> = (0..LEN).map(|i| (i * 7 + i / 251) as u8).collect();
    let asm = if cfg!(feature = "sha2-asm") {
        " (asm)"
    } else {
        ""
    };
    use openssl::hash::MessageDigest as M;
    measure("md5 md-5", &data, rust_crypto::<md5::Md5>);
    measure("md5 openssl", &data, |d| openssl_digest(M::md5(), d));
    measure("sha1 sha1", &data, rust_crypto::<sha1::Sha1>);
    measure("sha1 ring", &data, |d| {
        ring_digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, d)
    });
    measure("sha1 openssl", &data, |d| openssl_digest(M::sha1(), d));
    measure(
        &format!("sha256 sha2{asm}"),
        &data,
        rust_crypto::<sha2::Sha256>,
    );
    measure("sha256 ring", &data, |d| {
        ring_digest(&ring::digest::SHA256, d)
    });
    measure("sha256 openssl", &data, |d| openssl_digest(M::sha256(), d));
    measure(
        &format!("sha512 sha2{asm}"),
        &data,
        rust_crypto::<sha2::Sha512>,
    );
    measure("sha512 ring", &data, |d| {
        ring_digest(&ring::digest::SHA512, d)
    });
    measure("sha512 openssl", &data, |d| openssl_digest(M::sha512(), d));
    measure(
        &format!("sha384 sha2{asm}"),
        &data,
        rust_crypto::<sha2::Sha384>,
    );
    measure("sha384 ring", &data, |d| {
        ring_digest(&ring::digest::SHA384, d)
    });
    measure("sha3_256 sha3", &data, rust_crypto::<sha3::Sha3_256>);
    measure("sha3_256 openssl", &data, |d| {
        openssl_digest(M::sha3_256(), d)
    });
    measure("sha3_512 sha3", &data, rust_crypto::<sha3::Sha3_512>);
    measure("sha3_512 openssl", &data, |d| {
        openssl_digest(M::sha3_512(), d)
    });
    measure("blake2b blake2", &data, rust_crypto::<blake2::Blake2b512>);
    measure("blake2b openssl", &data, |d| {
        openssl_digest(M::from_nid(openssl::nid::Nid::from_raw(1056)).unwrap(), d)
    });
    measure("blake2s blake2", &data, rust_crypto::<blake2::Blake2s256>);
    measure("blake3 1 thread", &data, |d| {
        let mut h = blake3::Hasher::new();
        for c in d.chunks(UPDATE) {
            h.update(c);
        }
        h.finalize().as_bytes().len()
    });
    measure("blake3 rayon", &data, |d| {
        let mut h = blake3::Hasher::new();
        for c in d.chunks(UPDATE) {
            h.update_rayon(c);
        }
        h.finalize().as_bytes().len()
    });
}
