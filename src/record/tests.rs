use std::fs;
use std::io::Write;

use super::*;
use crate::hasher::{hash_file, HashOptions};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const IMAGE: &str = "8e6ac1f4-2b0e-4a5e-9d55-0c1b1c0f2d11";

fn staged(dir: &Path, data: &[u8]) -> std::path::PathBuf {
    let path = dir.join(IMAGE);
    fs::write(&path, data).unwrap();
    path
}

fn digests(path: &Path) -> FileDigests {
    hash_file(
        path,
        &[Algorithm::Sha256, Algorithm::Sha512],
        &HashOptions::default(),
    )
    .unwrap()
}

fn record(path: &Path) -> String {
    seal(
        KEY,
        IMAGE,
        FileIdentity::settled(path).unwrap(),
        &digests(path),
    )
    .unwrap()
}

fn opened(text: &str, path: &Path, needed: &[Algorithm]) -> Result<FileDigests, Stale> {
    open(text, KEY, IMAGE, FileIdentity::of(path).unwrap(), needed).unwrap()
}

#[test]
fn an_untouched_file_gives_back_exactly_the_needed_digests() {
    let dir = tempfile_dir();
    let path = staged(dir.path(), b"staged bytes");
    let text = record(&path);
    let got = opened(&text, &path, &[Algorithm::Sha256]).unwrap();
    assert_eq!(got.bytes, 12);
    assert_eq!(got.digests.len(), 1);
    assert_eq!(
        got.digests[&Algorithm::Sha256],
        digests(&path).digests[&Algorithm::Sha256]
    );
}

fn assert_stale(result: Result<FileDigests, Stale>, words: &str) {
    match result {
        Ok(_) => panic!("a stale record was used"),
        Err(Stale(why)) => assert!(why.contains(words), "{why}"),
    }
}

#[test]
fn an_appended_truncated_rewritten_or_replaced_file_is_not_trusted() {
    let dir = tempfile_dir();
    type Change = fn(&Path);
    let changes: [(&str, Change); 4] = [
        ("append", |p| {
            fs::OpenOptions::new()
                .append(true)
                .open(p)
                .unwrap()
                .write_all(b"x")
                .unwrap()
        }),
        ("truncate", |p| {
            fs::OpenOptions::new()
                .write(true)
                .open(p)
                .unwrap()
                .set_len(3)
                .unwrap()
        }),
        // Same size, same length: only the times tell.
        ("rewrite", |p| fs::write(p, b"staged BYTES").unwrap()),
        ("rename", |p| {
            let other = p.with_extension("new");
            fs::write(&other, b"staged bytes").unwrap();
            fs::rename(&other, p).unwrap();
        }),
    ];
    for (what, change) in changes {
        let path = staged(dir.path(), b"staged bytes");
        let text = record(&path);
        change(&path);
        match opened(&text, &path, &[Algorithm::Sha256]) {
            Ok(_) => panic!("a record was used after a {what}"),
            Err(Stale(why)) => {
                assert!(why.contains("changed since it was staged"), "{what}: {why}")
            }
        }
    }
}

#[test]
fn a_record_of_another_image_or_key_or_edited_is_not_trusted() {
    let dir = tempfile_dir();
    let path = staged(dir.path(), b"staged bytes");
    let text = record(&path);
    let identity = FileIdentity::of(&path).unwrap();
    let other = open(&text, KEY, "another-image", identity, &[]).unwrap();
    assert_stale(other, "the record of image");
    let key = b"another key, just as long as it!";
    assert_stale(open(&text, key, IMAGE, identity, &[]).unwrap(), "seal");
    // A digest edited by hand: the seal no longer verifies.
    let sha256 = hex::encode(&digests(&path).digests[&Algorithm::Sha256]);
    let edited = text.replace(&sha256, &"0".repeat(64));
    assert_ne!(edited, text);
    assert_stale(opened(&edited, &path, &[Algorithm::Sha256]), "seal");
    assert_stale(opened("{}", &path, &[]), "not a record");
    assert_stale(opened("not json", &path, &[]), "not a record");
}

#[test]
fn a_record_without_a_needed_digest_is_not_used() {
    let dir = tempfile_dir();
    let path = staged(dir.path(), b"staged bytes");
    let text = record(&path);
    assert_stale(
        opened(&text, &path, &[Algorithm::Sha256, Algorithm::Sha3_512]),
        "no sha3_512 digest",
    );
}

#[test]
fn sealing_refuses_a_short_key_and_digests_of_other_bytes() {
    let dir = tempfile_dir();
    let path = staged(dir.path(), b"staged bytes");
    let identity = FileIdentity::of(&path).unwrap();
    assert!(seal(b"short", IMAGE, identity, &digests(&path)).is_err());
    let mut fewer = digests(&path);
    fewer.bytes -= 1;
    assert!(seal(KEY, IMAGE, identity, &fewer).is_err());
}

#[test]
fn settled_waits_until_the_clock_has_passed_the_last_change() {
    let dir = tempfile_dir();
    let path = staged(dir.path(), b"fresh");
    let identity = FileIdentity::settled(&path).unwrap();
    let age = now_ns() - identity.ctime_ns;
    assert!(age >= SETTLE.as_nanos() as i64, "{age}");
}

/// A temporary directory, removed when dropped.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> TempDir {
    let dir =
        std::env::temp_dir().join(format!("guard-record-{}-{}", std::process::id(), now_ns()));
    fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}
