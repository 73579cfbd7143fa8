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
    fn finish(self: Box<Self>) -> Vec<u8>;
}

/// Any RustCrypto hasher (`digest::Digest`).
struct RustCrypto<D>(D);

impl<D: digest::Digest + Send> Engine for RustCrypto<D> {
    fn update(&mut self, data: &[u8]) {
        digest::Digest::update(&mut self.0, data);
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}

impl Engine for blake3::Hasher {
    fn update(&mut self, data: &[u8]) {
        blake3::Hasher::update(self, data);
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        self.finalize().as_bytes().to_vec()
    }
}

fn rust_crypto<D: digest::Digest + Send + 'static>() -> Box<dyn Engine> {
    Box::new(RustCrypto(D::new()))
}

macro_rules! algorithms {
    ($( $variant:ident => $name:literal, $len:literal, $engine:expr; )+) => {
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

            pub(crate) fn engine(self) -> Box<dyn Engine> {
                match self { $(Algorithm::$variant => $engine),+ }
            }
        }
    };
}

algorithms! {
    Md5 => "md5", 16, rust_crypto::<md5::Md5>();
    Sha1 => "sha1", 20, rust_crypto::<sha1::Sha1>();
    Sha224 => "sha224", 28, rust_crypto::<sha2::Sha224>();
    Sha256 => "sha256", 32, rust_crypto::<sha2::Sha256>();
    Sha384 => "sha384", 48, rust_crypto::<sha2::Sha384>();
    Sha512 => "sha512", 64, rust_crypto::<sha2::Sha512>();
    Sha3_224 => "sha3_224", 28, rust_crypto::<sha3::Sha3_224>();
    Sha3_256 => "sha3_256", 32, rust_crypto::<sha3::Sha3_256>();
    Sha3_384 => "sha3_384", 48, rust_crypto::<sha3::Sha3_384>();
    Sha3_512 => "sha3_512", 64, rust_crypto::<sha3::Sha3_512>();
    // hashlib's blake2b/blake2s default to their longest digests.
    Blake2b => "blake2b", 64, rust_crypto::<blake2::Blake2b512>();
    Blake2s => "blake2s", 32, rust_crypto::<blake2::Blake2s256>();
    Blake3 => "blake3", 32, Box::new(blake3::Hasher::new());
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
        Algorithm::from_name(name).ok_or_else(|| Error::UnknownAlgorithm(name.to_owned()))
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
            Err(Error::UnknownAlgorithm(n)) if n == "whirlpool"
        ));
    }

    #[test]
    fn engines_produce_digests_of_the_declared_length() {
        for &a in Algorithm::ALL {
            let mut engine = a.engine();
            engine.update(b"abc");
            assert_eq!(engine.finish().len(), a.digest_len(), "{a}");
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
