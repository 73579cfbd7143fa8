//! The digest algorithms the guard knows.
//!
//! To add an algorithm, add one row to the `algorithms!` table below (its
//! hashlib name, digest length and engine) and a known-answer vector to
//! `tests/vectors/digests.json` (made by `tests/vectors/make_vectors.py`).
//! Nothing else in the project lists algorithms.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Error;

/// One incremental digest computation.
pub(crate) trait Engine: Send {
    fn update(&mut self, data: &[u8]);
    fn finish(self: Box<Self>) -> Result<Vec<u8>, Error>;
}

/// The system's libcrypto through the `openssl` crate: the very code
/// Python's hashlib (and so Glance) runs. An update error is kept and
/// reported by `finish`, so `update` stays infallible.
struct OpenSsl {
    algorithm: Algorithm,
    hasher: openssl::hash::Hasher,
    error: Option<openssl::error::ErrorStack>,
}

impl Engine for OpenSsl {
    fn update(&mut self, data: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = self.hasher.update(data) {
                self.error = Some(e);
            }
        }
    }
    fn finish(mut self: Box<Self>) -> Result<Vec<u8>, Error> {
        let algorithm = self.algorithm;
        match self.error.take() {
            Some(e) => Err(Error::digest(algorithm.name(), e)),
            None => self
                .hasher
                .finish()
                .map(|d| d.to_vec())
                .map_err(|e| Error::digest(algorithm.name(), e)),
        }
    }
}

fn openssl(
    algorithm: Algorithm,
    md: openssl::hash::MessageDigest,
) -> Result<Box<dyn Engine>, Error> {
    let hasher = openssl::hash::Hasher::new(md).map_err(|e| Error::digest(algorithm.name(), e))?;
    Ok(Box::new(OpenSsl {
        algorithm,
        hasher,
        error: None,
    }))
}

/// A RustCrypto hasher (`digest::Digest`).
struct RustCrypto<D>(D);

impl<D: digest::Digest + Send> Engine for RustCrypto<D> {
    fn update(&mut self, data: &[u8]) {
        digest::Digest::update(&mut self.0, data);
    }
    fn finish(self: Box<Self>) -> Result<Vec<u8>, Error> {
        Ok(self.0.finalize().to_vec())
    }
}

fn rust_crypto<D: digest::Digest + Send + 'static>() -> Result<Box<dyn Engine>, Error> {
    Ok(Box::new(RustCrypto(D::new())))
}

impl Engine for blake3::Hasher {
    fn update(&mut self, data: &[u8]) {
        blake3::Hasher::update(self, data);
    }
    fn finish(self: Box<Self>) -> Result<Vec<u8>, Error> {
        Ok(self.finalize().as_bytes().to_vec())
    }
}

macro_rules! algorithms {
    ($( $variant:ident => $name:literal, $len:literal, $cost:literal, $engine:expr; )+) => {
        /// A digest algorithm, named as Python's `hashlib` names it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Algorithm { $($variant),+ }

        impl Algorithm {
            /// Every algorithm, in a stable order.
            pub const ALL: &'static [Algorithm] = &[$(Algorithm::$variant),+];

            /// The lower-case hashlib name (`sha3_256`, `blake2b`, ...).
            pub fn name(self) -> &'static str {
                match self { $(Algorithm::$variant => $name),+ }
            }

            /// Length of the digest in bytes (hex is twice as long).
            pub fn digest_len(self) -> usize {
                match self { $(Algorithm::$variant => $len),+ }
            }

            /// Measured single-core cost in picoseconds per byte (see the
            /// table below); the hasher uses it to balance its threads.
            pub(crate) fn cost(self) -> u32 {
                match self { $(Algorithm::$variant => $cost),+ }
            }

            pub(crate) fn engine(self) -> Result<Box<dyn Engine>, Error> {
                #[allow(unused_imports)]
                use openssl::hash::MessageDigest as Md;
                match self { $(Algorithm::$variant => $engine),+ }
            }
        }
    };
}

// Implementations chosen by measurement: `cargo run --release` in
// benches/implementations (single core, 256 MiB in 1 MiB updates, best of
// 3, 2-core AMD EPYC with SHA-NI and AVX-512, OpenSSL 3.0.19), MB/s:
//
//   md5      md-5 693    openssl 896
//   sha1     sha1 2211   openssl 2229   ring 604
//   sha256   sha2 2102   openssl 2101   ring 2111  (sha2 asm 2096)
//   sha512   sha2 932    openssl 1228   ring 898   (sha2 asm 970)
//   sha3_256 sha3 556    openssl 637;   sha3_512 sha3 295, openssl 337
//   blake2b  blake2 1539 openssl 1469;  blake2s blake2 936
//   blake3   1 thread 7948, rayon (2 threads) 12041
//
// So OpenSSL for md5, sha1, sha2 and sha3 (never slower, up to 32% faster),
// RustCrypto's blake2, and the blake3 crate. The cost column is 1e6 / MB/s
// (sha224, sha384 as their wider twins; sha3_224/384 scaled by Keccak rate).
algorithms! {
    Md5 => "md5", 16, 1116, openssl(Algorithm::Md5, Md::md5());
    Sha1 => "sha1", 20, 449, openssl(Algorithm::Sha1, Md::sha1());
    Sha224 => "sha224", 28, 476, openssl(Algorithm::Sha224, Md::sha224());
    Sha256 => "sha256", 32, 476, openssl(Algorithm::Sha256, Md::sha256());
    Sha384 => "sha384", 48, 814, openssl(Algorithm::Sha384, Md::sha384());
    Sha512 => "sha512", 64, 814, openssl(Algorithm::Sha512, Md::sha512());
    Sha3_224 => "sha3_224", 28, 1490, openssl(Algorithm::Sha3_224, Md::sha3_224());
    Sha3_256 => "sha3_256", 32, 1570, openssl(Algorithm::Sha3_256, Md::sha3_256());
    Sha3_384 => "sha3_384", 48, 2040, openssl(Algorithm::Sha3_384, Md::sha3_384());
    Sha3_512 => "sha3_512", 64, 2967, openssl(Algorithm::Sha3_512, Md::sha3_512());
    // hashlib's blake2b/blake2s default to their longest digests.
    Blake2b => "blake2b", 64, 650, rust_crypto::<blake2::Blake2b512>();
    Blake2s => "blake2s", 32, 1068, rust_crypto::<blake2::Blake2s256>();
    Blake3 => "blake3", 32, 126, Ok(Box::new(blake3::Hasher::new()));
}

/// cursive's `img_signature_hash_method` values, matched case-sensitively as
/// cursive matches them, and the digest each one means.
pub const SIGNATURE_HASH_METHODS: &[(&str, Algorithm)] = &[
    ("SHA-224", Algorithm::Sha224),
    ("SHA-256", Algorithm::Sha256),
    ("SHA-384", Algorithm::Sha384),
    ("SHA-512", Algorithm::Sha512),
];

impl Algorithm {
    /// Parses a hashlib name, ignoring ASCII case (`SHA512` is `sha512`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL
            .iter()
            .copied()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// Parses a cursive `img_signature_hash_method` (exact match).
    pub fn from_signature_hash_method(method: &str) -> Option<Algorithm> {
        SIGNATURE_HASH_METHODS
            .iter()
            .find(|(name, _)| *name == method)
            .map(|(_, algorithm)| *algorithm)
    }

    /// All names, comma-separated, for messages.
    pub fn names() -> String {
        Algorithm::ALL
            .iter()
            .map(|a| a.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(name: &str) -> Result<Self, Error> {
        Algorithm::from_name(name).ok_or_else(|| Error::UnknownAlgorithm {
            name: name.to_owned(),
            known: Algorithm::names(),
        })
    }
}

impl Serialize for Algorithm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Algorithm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_ignoring_case() {
        for &a in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(a.name()), Some(a));
            assert_eq!(Algorithm::from_name(&a.name().to_uppercase()), Some(a));
        }
        assert_eq!(Algorithm::from_name("sha-256"), None);
        assert_eq!(Algorithm::from_name(""), None);
        assert_eq!(Algorithm::from_name(" sha256"), None);
        assert!(matches!(
            "whirlpool".parse::<Algorithm>(),
            Err(Error::UnknownAlgorithm { name, .. }) if name == "whirlpool"
        ));
    }

    #[test]
    fn engines_produce_digests_of_the_declared_length() {
        for &a in Algorithm::ALL {
            let mut engine = a.engine().unwrap();
            engine.update(b"abc");
            assert_eq!(engine.finish().unwrap().len(), a.digest_len(), "{a}");
        }
    }

    #[test]
    fn signature_hash_methods_are_case_sensitive() {
        assert_eq!(
            Algorithm::from_signature_hash_method("SHA-256"),
            Some(Algorithm::Sha256)
        );
        assert_eq!(Algorithm::from_signature_hash_method("sha-256"), None);
        assert_eq!(Algorithm::from_signature_hash_method("SHA256"), None);
        for (name, a) in SIGNATURE_HASH_METHODS {
            assert_eq!(Algorithm::from_signature_hash_method(name), Some(*a));
        }
    }
}
