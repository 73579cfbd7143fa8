"""Writes digests.json: known-answer vectors for the Rust core's tests.

Every digest here is computed by Python's hashlib (an implementation
independent of the RustCrypto crates the core uses), except blake3, which
hashlib lacks: those are the BLAKE3 team's published test vectors
(BLAKE3-team/BLAKE3, test_vectors/test_vectors.json, first 32 bytes of
"hash"), copied by hand.

The input of each case is `input_len` bytes of the repeating sequence
0, 1, ..., 250 (the BLAKE3 vectors' convention), so no data is stored.
Sizes sit around the 4 KiB and 1 MiB read sizes and blake3's 1 KiB chunks.

Run:  python tests/vectors/make_vectors.py   (tests/unit/test_vectors.py checks
that the committed file equals what this script makes).
"""

import hashlib
import json
import pathlib

HASHLIB_ALGORITHMS = [
    "md5", "sha1", "sha224", "sha256", "sha384", "sha512",
    "sha3_224", "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s",
]
KiB, MiB = 1024, 1024 * 1024
SIZES = [0, 1, 3, 55, 56, 64, 127, 128, 1023, 1024, 1025,
         4 * KiB - 1, 4 * KiB, 4 * KiB + 1,
         MiB - 1, MiB, MiB + 1, 3 * MiB + 5]

BLAKE3_PUBLISHED = {
    0: "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
    1: "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
    1023: "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
    1024: "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
    1025: "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
    2048: "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a",
    3072: "b98cb0ff3623be03326b373de6b9095218513e64f1ee2edd2525c7ad1e5cffd2",
    4096: "015094013f57a5277b59d8475c0501042c0b642e531b0a1c8f58d2163229e969",
}

PATH = pathlib.Path(__file__).with_name("digests.json")


def pattern(length):
    return bytes(i % 251 for i in range(length))


def vectors():
    cases = []
    for size in SIZES:
        data = pattern(size)
        cases.append({
            "input_len": size,
            "source": "hashlib",
            "digests": {name: hashlib.new(name, data).hexdigest()
                        for name in HASHLIB_ALGORITHMS},
        })
    for size, digest in BLAKE3_PUBLISHED.items():
        cases.append({"input_len": size,
                      "source": "BLAKE3 published test vectors",
                      "digests": {"blake3": digest}})
    return {"input": "input_len bytes of i % 251", "cases": cases}


def render():
    return json.dumps(vectors(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    PATH.write_text(render())
    print(f"wrote {PATH}")
