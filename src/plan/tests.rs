use super::*;
use crate::hasher::{hash_reader, HashOptions};
use ProblemCode::*;

// sha256("abc") from `printf abc | sha256sum` (FIPS 180-2 example).
const ABC_SHA256: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

/// The plan for a declared sha256 digest of `value`.
fn declared_sha256(value: &str) -> Plan {
    Plan {
        algorithms: vec![Algorithm::Sha256],
        declared: Some(DeclaredDigest {
            algorithm: Algorithm::Sha256,
            value: value.to_ascii_lowercase(),
            property: "img_hash_value".into(),
        }),
        signature: None,
    }
}

fn digests_of(data: &[u8], plan: &Plan) -> FileDigests {
    hash_reader(data, &plan.algorithms, &HashOptions::default()).unwrap()
}

#[test]
fn declared_digest_matches_or_is_refused() {
    let plan = declared_sha256(&ABC_SHA256.to_uppercase());
    assert_eq!(check_digests(&plan, &digests_of(b"abc", &plan)), vec![]);

    let problems = check_digests(&plan, &digests_of(b"abd", &plan));
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].code, DigestMismatch);
    assert_eq!(problems[0].property.as_deref(), Some("img_hash_value"));
    assert!(
        problems[0].message.contains(ABC_SHA256),
        "{}",
        problems[0].message
    );
}

#[test]
fn no_declared_digest_nothing_to_compare() {
    let plan = Plan {
        algorithms: vec![Algorithm::Sha512],
        ..Plan::default()
    };
    assert_eq!(check_digests(&plan, &digests_of(b"abc", &plan)), vec![]);
}

#[test]
fn digest_missing_from_the_pass_is_a_refusal_not_a_pass() {
    let plan = declared_sha256(ABC_SHA256);
    let empty = hash_reader(&b"abc"[..], &[], &HashOptions::default()).unwrap();
    assert_eq!(check_digests(&plan, &empty)[0].code, DigestMismatch);
}
