"""The guard's promise, tested with random images against a real glance-api.

Each example creates an image with a random mutation of each of the four
signature properties and of the declared digest, imports it (glance-direct
or web-download), and checks the invariant: the image goes active only if
every property is acceptable and the bytes match; otherwise it is queued,
with no lock, no staged or stored data, and a message naming the image and
the reasons. The generator knows, for every mutation, whether it must be
accepted (its oracle is this table, not the guard's code).

    GUARD_PBT_SEED=1234 GUARD_PBT_EXAMPLES=50 \
        pytest tests/e2e/test_e2e_properties.py

The seed and the counts are printed at the end of the run.
"""

import base64
import hashlib
import os
import random
import time

import pytest

from conftest import SUMMARY
from support import harness, signing
from support.e2e import do_import

SEED = int(os.environ.get("GUARD_PBT_SEED") or time.time_ns() % 2**32)
EXAMPLES = int(os.environ.get("GUARD_PBT_EXAMPLES") or 200)
CERT_ID = "pbt-signer"


class M:
    """One mutation of one property.

    value(ctx) gives the new value (None: remove the property); `ok`
    whether the guard must accept it; `says` a fragment the refusal must
    contain; `late` marks problems the guard can see only once every
    signature property is well-formed (it then verifies), so they are
    checked only then.
    """

    def __init__(self, name, value, ok, says=None, late=False,
                 hashed=False):
        self.name, self.value, self.ok = name, value, ok
        self.says, self.late = says, late
        # Declared digests only: well-formed, so the data is hashed and
        # compared whatever else is wrong.
        self.hashed = hashed


def b64(sig):
    return base64.b64encode(sig).decode()


SIGNATURE = [
    M("keep", lambda c: b64(c["sig"]), True),
    M("wrapped", lambda c: base64.encodebytes(c["sig"]).decode(), True),
    M("spaced", lambda c: " \n" + b64(c["sig"]) + "\t\n", True),
    M("junk after padding", lambda c: b64(c["sig"]) + "QUJD", True),
    M("missing", lambda c: None, False, "img_signature is missing"),
    M("empty", lambda c: "", False, "img_signature is empty"),
    M("no padding", lambda c: b64(c["sig"]).rstrip("="), False,
      "img_signature is not valid base64"),
    M("non-ascii", lambda c: b64(c["sig"]) + "\u00e9", False,
      "img_signature is not valid base64"),
    M("very long", lambda c: "A" * 20000, False,
      "img_signature is 20000 bytes long"),
    M("truncated", lambda c: b64(c["sig"])[:-8], False,
      "img_signature does not match the image data", late=True),
    M("over other data", lambda c: b64(c["other_sig"]), False,
      "img_signature does not match the image data", late=True),
]
HASH_METHOD = [
    M("keep", lambda c: "SHA-256", True),
    M("missing", lambda c: None, False,
      "img_signature_hash_method is missing"),
    M("empty", lambda c: "", False, "img_signature_hash_method is empty"),
    M("lower case", lambda c: "sha256", False, "use 'SHA-256'"),
    M("padded", lambda c: "SHA-256 ", False, "is not one of"),
    M("non-ascii", lambda c: "SHA\u2011256", False, "is not one of"),
    M("another method", lambda c: "SHA-512", False,
      "img_signature does not match the image data", late=True),
]
KEY_TYPE = [
    M("keep", lambda c: "RSA-PSS", True),
    M("missing", lambda c: None, False, "img_signature_key_type is missing"),
    M("empty", lambda c: "", False, "img_signature_key_type is empty"),
    M("lower case", lambda c: "rsa-pss", False,
      "is not a key type Glance can verify"),
    M("another family", lambda c: "ECC_SECP384R1", False,
      "Invalid public key type for signature key type", late=True),
]
CERTIFICATE_ID = [
    M("keep", lambda c: CERT_ID, True),
    M("missing", lambda c: None, False,
      "img_signature_certificate_uuid is missing"),
    M("empty", lambda c: "", False,
      "img_signature_certificate_uuid is empty"),
    M("with a space", lambda c: "pbt signer", False, "contains whitespace"),
    M("a path", lambda c: "../" + CERT_ID, False,
      "contains a path separator"),
    M("too long", lambda c: "c" * 300, False, "is longer than 255"),
    M("unknown", lambda c: "nobody-has-this", False,
      "the signing certificate nobody-has-this "
      "(img_signature_certificate_uuid) cannot be used: the key manager has "
      "no secret with this id", late=True),
]
DECLARED = [  # value(ctx) -> (img_hash_algo, img_hash_value)
    M("none", lambda c: (None, None), True),
    M("sha512", lambda c: ("sha512", c["sha512"]), True, hashed=True),
    M("SHA256 upper case", lambda c: ("SHA256", c["sha256"].upper()), True,
      hashed=True),
    M("blake2b", lambda c: ("blake2b", c["blake2b"]), True, hashed=True),
    M("algorithm only", lambda c: ("sha512", None), False,
      "img_hash_algo is set but img_hash_value is not"),
    M("value only", lambda c: (None, c["sha512"]), False,
      "img_hash_value is set but img_hash_algo is not"),
    M("md5", lambda c: ("md5", hashlib.md5(c["data"]).hexdigest()), False,
      "'md5' is not allowed on this cloud"),
    M("truncated", lambda c: ("sha512", c["sha512"][:-1]), False,
      "has 127 characters but a sha512 digest is 128"),
    M("of other data", lambda c: ("sha512", c["other_sha512"]), False,
      "does not match img_hash_value", hashed=True),
    M("another algorithm's", lambda c: ("sha3_512", c["sha512"]), False,
      "does not match img_hash_value: its sha3_512 digest", hashed=True),
    M("padded", lambda c: ("sha512", " " + c["sha512"]), False,
      "has 129 characters"),
    M("very long", lambda c: ("sha512", "f" * 5000), False,
      "img_hash_value is 5000 bytes long"),
]
SIGNATURE_COLUMNS = (("img_signature", SIGNATURE),
                     ("img_signature_hash_method", HASH_METHOD),
                     ("img_signature_key_type", KEY_TYPE),
                     ("img_signature_certificate_uuid", CERTIFICATE_ID))


def pick(rng, mutations):
    """The first mutation ("keep") 70% of the time, any other otherwise,
    so about a quarter of the examples are fully acceptable."""
    return mutations[0] if rng.random() < 0.7 else rng.choice(mutations)


def example(rng, key):
    data = rng.randbytes(rng.choice((1, 1000, 65536, 300_001)))
    ctx = {"data": data,
           "sig": signing.raw_signature(key, data),
           "other_sig": signing.raw_signature(key, data + b"?"),
           "sha512": hashlib.sha512(data).hexdigest(),
           "sha256": hashlib.sha256(data).hexdigest(),
           "blake2b": hashlib.blake2b(data).hexdigest(),
           "other_sha512": hashlib.sha512(data + b"?").hexdigest()}
    chosen = [(name, pick(rng, column)) for name, column in
              SIGNATURE_COLUMNS]
    declared = pick(rng, DECLARED)
    props = {}
    for name, m in chosen:
        value = m.value(ctx)
        if value is not None:
            props[name] = value
    algo, value = declared.value(ctx)
    if algo is not None:
        props["img_hash_algo"] = algo
    if value is not None:
        props["img_hash_value"] = value
    return data, props, chosen, declared


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    cert_dir = tmp_path_factory.mktemp("pbt-certs")
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, CERT_ID,
                                signing.make_certificate(key))
    with harness.FileServer(tmp_path_factory.mktemp("pbt-http")) as files:
        server = harness.GlanceServer(
            tmp_path_factory.mktemp("pbt-glance"), certificate_dir=cert_dir,
            web_download_ports=[files.port])
        with server:
            yield server, files, key


def test_only_signed_matching_images_go_active(world):
    glance, files, key = world
    conn = glance.client()
    rng = random.Random(SEED)
    counts = {"active": 0, "refused": 0}
    for n in range(EXAMPLES):
        data, props, chosen, declared = example(rng, key)
        method = ("glance-direct", "web-download")[n % 2]
        where = "example %d of seed %d (%s): %s, declared %s" % (
            n, SEED, method,
            ", ".join("%s %s" % (name, m.name) for name, m in chosen),
            declared.name)
        image = do_import(conn, files, props, data, method)
        mutations = [m for _, m in chosen] + [declared]
        if all(m.ok for m in mutations):
            assert image.status == "active", where
            assert image.hash_value == hashlib.sha512(data).hexdigest()
            assert glance.stored(image.id), where
            counts["active"] += 1
        else:
            check_refused(glance, conn, image, chosen, declared, where)
            counts["refused"] += 1
        assert not glance.staged(image.id), where
        assert "os_glance_import_task" not in image.properties, where
    SUMMARY.append(
        "property-based E2E: %d examples (seed %d): %d active, %d refused" %
        (EXAMPLES, SEED, counts["active"], counts["refused"]))
    assert counts["active"] and counts["refused"]


def check_refused(glance, conn, image, chosen, declared, where):
    assert image.status == "queued", where
    assert image.properties.get("os_glance_failed_import") == \
        harness.STORE, where
    assert not glance.stored(image.id), where
    message = harness.last_task(conn, image.id).message
    assert message.startswith("Image %s was not imported: " % image.id), \
        where + "\n" + message
    every = [m for _, m in chosen] + [declared]
    for m in every:
        if not m.ok and not m.late:
            assert m.says in message, "%s\nmissing %r in: %s" % (
                where, m.says, message)
    # The guard verifies the signature when the four properties are
    # well-formed and either nothing else is wrong with the properties or
    # the data is hashed anyway for a well-formed declared digest.
    signature_malformed = any(not m.ok and not m.late for _, m in chosen)
    property_problem = signature_malformed or (
        not declared.ok and not declared.hashed)
    verified = not signature_malformed and (
        not property_problem or declared.hashed)
    late = [m for _, m in chosen if not m.ok and m.late]
    if late and verified:
        # At least one is named (an unknown certificate hides a bad
        # signature, for instance).
        assert any(m.says in message for m in late), "%s\n%s" % (
            where, message)
