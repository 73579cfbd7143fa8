//! The record of a staged file's digests, made while it was staged, so that
//! the import need not read the file again.
//!
//! The upload filter hashes the body of `PUT /v2/images/{id}/stage` as
//! Glance writes it to the staging store and, once Glance has answered the
//! stage with success, [`seal`]s the digests with the file's
//! [`FileIdentity`] and the image id under a key that only glance-api can
//! read. At import, [`open`] gives the digests back only when the seal
//! verifies, the record is for this image, the file's identity is still
//! exactly the one recorded and every digest the import needs is there;
//! otherwise it says why ([`Stale`]) and the plugin reads the file as
//! before. A record can thus save a read, never change a verdict.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use serde::{Deserialize, Serialize};

use crate::algorithm::Algorithm;
use crate::error::Error;
use crate::hasher::FileDigests;

/// The record format; a record of another version is not used.
const VERSION: u32 = 1;

/// Shortest key accepted (HMAC-SHA256 keys shorter than this are weak).
pub const MIN_KEY_LEN: usize = 16;

/// How long after its last change a file must be before its identity is
/// recorded. NOTE: Linux stamps mtime and ctime from a coarse clock (one
/// tick, 1 to 10 ms), so a write in the same tick as the recording could
/// leave both unchanged ("racily clean", as git calls it). Recording only
/// once the clock has moved on makes any later write change ctime.
pub const SETTLE: Duration = Duration::from_millis(20);

/// What changes whenever a file's bytes can have changed: a rewrite in
/// place changes `mtime_ns` and `ctime_ns` (and ctime cannot be set back
/// from user space), a truncation or an append `size` too, a `rename()` of
/// another file over it `ino`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl FileIdentity {
    /// The identity of the regular file at `path` (not following a
    /// symbolic link).
    pub fn of(path: &Path) -> Result<Self, Error> {
        let meta = std::fs::symlink_metadata(path).map_err(|source| Error::Io {
            path: path.into(),
            source,
        })?;
        if !meta.file_type().is_file() {
            return Err(Error::NotARegularFile {
                path: path.into(),
                kind: "non-regular file",
            });
        }
        Ok(FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
        })
    }

    /// The identity of `path` once it has not changed for [`SETTLE`]:
    /// waits (at most [`SETTLE`]) for the clock to pass its last change,
    /// and fails if it changes meanwhile.
    pub fn settled(path: &Path) -> Result<Self, Error> {
        let first = Self::of(path)?;
        let settle = SETTLE.as_nanos() as i64;
        let age = now_ns() - first.ctime_ns.max(first.mtime_ns);
        if age < settle {
            std::thread::sleep(Duration::from_nanos((settle - age.max(0)) as u64));
        }
        let second = Self::of(path)?;
        if second != first {
            return Err(Error::Changed {
                path: path.into(),
                size_before: first.size,
                read: first.size,
                size_after: second.size,
            });
        }
        Ok(second)
    }
}

/// Nanoseconds since the epoch (an i64 holds them until 2262).
fn nanos(seconds: i64, nanos: i64) -> i64 {
    seconds.saturating_mul(1_000_000_000).saturating_add(nanos)
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// What is sealed: everything but the seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Body {
    version: u32,
    image_id: String,
    identity: FileIdentity,
    bytes: u64,
    digests: BTreeMap<Algorithm, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Sealed {
    #[serde(flatten)]
    body: Body,
    /// HMAC-SHA256 of the body's JSON, hex.
    mac: String,
}

/// Why a record was not used (for the INFO log line); the import then
/// reads the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale(pub String);

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn mac(key: &[u8], body: &Body) -> Result<Vec<u8>, Error> {
    if key.len() < MIN_KEY_LEN {
        return Err(Error::Argument(format!(
            "a record key has at least {MIN_KEY_LEN} bytes, not {}",
            key.len()
        )));
    }
    let json = serde_json::to_vec(body).map_err(|e| Error::Internal(e.to_string()))?;
    let digest = |e: openssl::error::ErrorStack| Error::digest("hmac-sha256", e);
    let pkey = PKey::hmac(key).map_err(digest)?;
    let mut signer = Signer::new(MessageDigest::sha256(), &pkey).map_err(digest)?;
    signer.update(&json).map_err(digest)?;
    signer.sign_to_vec().map_err(digest)
}

/// The sealed record (JSON) of `digests`, computed over the file of
/// `identity` staged for `image_id`. The digests must cover exactly the
/// file's bytes.
pub fn seal(
    key: &[u8],
    image_id: &str,
    identity: FileIdentity,
    digests: &FileDigests,
) -> Result<String, Error> {
    if digests.bytes != identity.size {
        return Err(Error::Argument(format!(
            "the digests cover {} bytes, the staged file has {}",
            digests.bytes, identity.size
        )));
    }
    let body = Body {
        version: VERSION,
        image_id: image_id.to_owned(),
        identity,
        bytes: digests.bytes,
        digests: digests
            .digests
            .iter()
            .map(|(a, d)| (*a, hex::encode(d)))
            .collect(),
    };
    let mac = hex::encode(mac(key, &body)?);
    serde_json::to_string(&Sealed { body, mac }).map_err(|e| Error::Internal(e.to_string()))
}

/// The digests of a record, if it may stand for reading the file now:
/// its seal verifies under `key`, it is for `image_id`, the file's
/// identity is still `identity`, and it has every algorithm of `needed`.
/// Only those are returned.
pub fn open(
    text: &str,
    key: &[u8],
    image_id: &str,
    identity: FileIdentity,
    needed: &[Algorithm],
) -> Result<Result<FileDigests, Stale>, Error> {
    let stale = |why: String| Ok(Err(Stale(why)));
    let Ok(sealed) = serde_json::from_str::<Sealed>(text) else {
        return stale("it is not a record of this version of the guard".into());
    };
    let expected = mac(key, &sealed.body)?;
    let given = hex::decode(&sealed.mac).unwrap_or_default();
    if given.len() != expected.len() || !openssl::memcmp::eq(&given, &expected) {
        return stale("its seal does not verify (it was not written by this host's guard)".into());
    }
    let body = sealed.body;
    if body.version != VERSION {
        return stale(format!("it is of format {}, not {VERSION}", body.version));
    }
    if body.bytes != body.identity.size {
        return stale("its digests do not cover the whole file".into());
    }
    if body.image_id != image_id {
        return stale(format!("it is the record of image {}", body.image_id));
    }
    if body.identity != identity {
        return stale(format!(
            "the staged file changed since it was staged (recorded {:?}, now {:?})",
            body.identity, identity
        ));
    }
    let missing: Vec<&str> = needed
        .iter()
        .filter(|a| !body.digests.contains_key(a))
        .map(|a| a.name())
        .collect();
    if !missing.is_empty() {
        return stale(format!(
            "it has no {} digest (the properties changed since staging)",
            missing.join(", ")
        ));
    }
    let mut digests = BTreeMap::new();
    for algorithm in needed {
        let Ok(value) = hex::decode(&body.digests[algorithm]) else {
            return stale(format!("its {algorithm} digest is not hex"));
        };
        digests.insert(*algorithm, value);
    }
    Ok(Ok(FileDigests {
        bytes: body.bytes,
        digests,
    }))
}

#[cfg(test)]
mod tests;
