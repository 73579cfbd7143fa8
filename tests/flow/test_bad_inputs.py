"""The bad-input matrix: every case runs Glance's real flow head (lock task
+ the guard, loaded by Glance's loader) on a real image, and must end in a
refusal with a clear message, a retryable image, no hang, and no leaked
file descriptor or thread."""

import base64
import gc
import os
import threading
import time

import pytest
from glance.common import exception as glance_exception
from taskflow import engines
from test_plugin import assert_retryable_after_refusal, glance_flow

from conftest import DEFAULT_DATA, growing, sha
from glance_import_guard import notify, plugin

KiB = 1024


def sig(value):
    return {"img_signature": value}


def declared(algo, value):
    return {"img_hash_algo": algo, "img_hash_value": value}


def renamed(old, new):
    """A property under a look-alike name instead of its own."""
    return ("rename", old, new)


GOOD_SHA256 = sha("sha256", DEFAULT_DATA)

# name -> (change to the signed properties, expected message fragments)
PROPERTY_CASES = {
    "sig-missing-padding": (
        lambda p: sig(p["img_signature"].rstrip("=")),
        ["img_signature is not valid base64", "incorrect padding"]),
    "sig-stray-data-character": (
        sig("QUJDR"), ["which cannot be 1 more than a multiple of 4"]),
    "sig-only-padding": (sig("===="), ["decodes to an empty signature"]),
    "sig-non-ascii": (
        sig("c2ln\u00e9IQ=="),
        ["contains a non-ASCII character at position 4"]),
    # What undecodable bytes become (Glance's API refuses lone surrogates;
    # the plugin maps any that reach it to U+FFFD, see test_plugin).
    "sig-replacement-character": (
        sig("c2ln\ufffdIQ=="), ["contains a non-ASCII character"]),
    # The URL-safe alphabet's '-' and '_' are dropped by cursive's decoder;
    # the two extra bytes make sure some are there.
    "sig-urlsafe-alphabet": (
        lambda p: sig(base64.urlsafe_b64encode(
            base64.b64decode(p["img_signature"]) + b"\xfb\xff").decode()),
        ["img_signature"]),
    "sig-truncated": (
        lambda p: sig(p["img_signature"][:100]),
        ["img_signature does not match the image data"]),
    "sig-blank": (sig(" \n\t "), ["img_signature is empty"]),
    "sig-control-characters-only": (
        sig("\x00\x01\x02\x7f"), ["decodes to an empty signature"]),
    "sig-64KiB": (sig("A" * 64 * KiB),
                  ["img_signature is 65536 bytes long"]),
    "sig-1MiB": (sig("QUJD" * (256 * KiB)),
                 ["img_signature is 1048576 bytes long"]),
    "hash-method-lower-case": (
        {"img_signature_hash_method": "sha256"}, ["use 'SHA-256'"]),
    "hash-method-padded": (
        {"img_signature_hash_method": " SHA-256"},
        ["img_signature_hash_method ' SHA-256' is not one of"]),
    "hash-method-sha1": (
        {"img_signature_hash_method": "SHA-1"}, ["'SHA-1' is not one of"]),
    "hash-method-md5": (
        {"img_signature_hash_method": "MD5"}, ["'MD5' is not one of"]),
    "hash-method-empty": (
        {"img_signature_hash_method": ""},
        ["img_signature_hash_method is empty"]),
    "hash-method-unicode-hyphen": (
        {"img_signature_hash_method": "SHA\u2010256"},
        ["is not one of SHA-224"]),
    "key-type-lower-case": (
        {"img_signature_key_type": "rsa-pss"},
        ["'rsa-pss' is not a key type Glance can verify"]),
    # P-256: a real curve that no cursive registers (it registers curves
    # of at least 384 bits; which ones depends on cryptography).
    "key-type-p256": (
        {"img_signature_key_type": "ECC_SECP256R1"},
        ["'ECC_SECP256R1' is not a key type Glance can verify"]),
    "key-type-control-character": (
        {"img_signature_key_type": "RSA-PSS\x00"},
        ["'RSA-PSS\\0' is not a key type"]),
    "key-type-2KiB": (
        {"img_signature_key_type": "R" * 2 * KiB},
        ["img_signature_key_type is 2048 bytes long"]),
    "cert-id-path": (
        {"img_signature_certificate_uuid": "../../etc/ssl/cert"},
        ["contains a path separator"]),
    "cert-id-backslash": (
        {"img_signature_certificate_uuid": "certs\\ca"},
        ["contains a path separator"]),
    "cert-id-space": (
        {"img_signature_certificate_uuid": "my cert"},
        ["contains whitespace"]),
    "cert-id-bell": (
        {"img_signature_certificate_uuid": "\x07cert"},
        ["contains a control character"]),
    "cert-id-256-characters": (
        {"img_signature_certificate_uuid": "c" * 256},
        ["is longer than 255 characters"]),
    "cert-id-unknown": (
        {"img_signature_certificate_uuid": "nobody-has-this"},
        ["the signing certificate nobody-has-this "
         "(img_signature_certificate_uuid) cannot be used: the key "
         "manager has no secret with this id"]),
    "hash-algo-unknown": (
        declared("whirlpool", GOOD_SHA256),
        ["'whirlpool' is not a known digest algorithm"]),
    "hash-algo-md5": (
        declared("md5", sha("md5", DEFAULT_DATA)),
        ["'md5' is not allowed on this cloud"]),
    "hash-algo-sha1": (
        declared("sha1", sha("sha1", DEFAULT_DATA)),
        ["'sha1' is not allowed on this cloud"]),
    "hash-algo-without-value": (
        {"img_hash_algo": "sha256"},
        ["img_hash_algo is set but img_hash_value is not"]),
    "hash-value-without-algo": (
        {"img_hash_value": GOOD_SHA256},
        ["img_hash_value is set but img_hash_algo is not"]),
    "hash-value-too-short": (
        declared("sha256", GOOD_SHA256[:-2]),
        ["has 62 characters but a sha256 digest is 64"]),
    "hash-value-of-a-longer-algorithm": (
        declared("sha256", sha("sha512", DEFAULT_DATA)),
        ["has 128 characters but a sha256 digest is 64"]),
    "hash-value-non-hex": (
        declared("sha256", "g" + GOOD_SHA256[1:]),
        ["has the non-hex character 'g' at position 0"]),
    "hash-value-0x-prefix": (
        declared("sha256", "0x" + GOOD_SHA256[2:]),
        ["has the non-hex character 'x' at position 1"]),
    "hash-value-padded": (
        declared("sha256", GOOD_SHA256 + "\n"),
        ["has 65 characters"]),
    "hash-value-of-other-data": (
        declared("sha256", sha("sha256", b"other")),
        ["does not match img_hash_value"]),
    "hash-value-of-another-algorithm": (
        declared("sha3_256", GOOD_SHA256),
        ["does not match img_hash_value: its sha3_256 digest is"]),
    "hash-value-64KiB": (
        declared("sha256", "a" * 64 * KiB),
        ["img_hash_value is 65536 bytes long"]),
    "key-with-trailing-space": (
        renamed("img_signature", "img_signature "),
        ["img_signature is missing"]),
    "key-upper-case": (
        renamed("img_signature_key_type", "IMG_SIGNATURE_KEY_TYPE"),
        ["img_signature_key_type is missing"]),
    "key-cyrillic-lookalike": (
        renamed("img_signature_hash_method", "img_s\u0456gnature_hash_method"),
        ["img_signature_hash_method is missing"]),
}


def apply(props, change):
    props = dict(props)
    if isinstance(change, tuple) and change[0] == "rename":
        _, old, new = change
        props[new] = props.pop(old)
        return props
    if callable(change):
        change = change(props)
    props.update(change)
    return props


def fds():
    """Open file descriptors of this process, once objects that only a
    cycle keeps alive are collected: an earlier test's sockets closed by a
    collection during this one must not pass for a leak, or hide one."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def tasks():
    return len(os.listdir("/proc/self/task"))


def run_guarded(case, timeout=60):
    """Runs the flow in a thread: a hang fails the test instead of CI."""
    outcome = {}

    def target():
        try:
            engines.load(glance_flow(case),
                         store={"file_path": case.uri}).run()
        except BaseException as e:  # noqa: B036 - reported below
            outcome["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "the import hung"
    return outcome.get("error")


def check_refusal(case, expected, clean_staging=True):
    # The process's one notification thread (glance_import_guard.notify)
    # starts at the first refusal and lives on: started before counting.
    notify._sender()
    fds_before, tasks_before = fds(), tasks()
    error = run_guarded(case)
    assert isinstance(error, glance_exception.UploadException), repr(error)
    assert isinstance(error, plugin.ImportRefused)
    message = str(error)
    assert message.startswith("Image %s was not imported: " % case.image_id)
    for fragment in expected:
        assert fragment in message, message
    if clean_staging:
        assert_retryable_after_refusal(case)
    assert fds() == fds_before, "file descriptor leaked"
    deadline = time.monotonic() + 2
    while tasks() > tasks_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tasks() <= tasks_before, "thread leaked"
    return message


@pytest.fixture(autouse=True)
def guard_enabled(conf):
    conf(group="image_import_opts", image_import_plugins=["import_guard"])


@pytest.mark.parametrize("change,expected", PROPERTY_CASES.values(),
                         ids=PROPERTY_CASES.keys())
def test_bad_property(new_import, signed_properties, change, expected):
    case = new_import(apply(signed_properties, change))
    check_refusal(case, expected)


def replace_staged(case, make):
    os.remove(case.staged)
    make(case.staged)


FILE_CASES = {
    "staged-missing": (lambda p: None,
                       ["the staged image data cannot be read"]),
    "staged-empty": (lambda p: open(p, "wb").close(),
                     ["img_signature does not match the image data"]),
    "staged-truncated": (
        lambda p: open(p, "wb").write(DEFAULT_DATA[:-1]),
        ["img_signature does not match the image data"]),
    "staged-directory": (os.mkdir,
                         ["the staged image data cannot be read"]),
    "staged-fifo": (os.mkfifo, ["the staged image data cannot be read"]),
    "staged-symlink": (
        lambda p: (open(p + ".real", "wb").write(DEFAULT_DATA),
                   os.symlink(p + ".real", p)),
        ["the staged image data cannot be read"]),
}


@pytest.mark.parametrize("make,expected", FILE_CASES.values(),
                         ids=FILE_CASES.keys())
def test_bad_staged_file(new_import, signed_properties, make, expected):
    case = new_import(signed_properties)
    replace_staged(case, make)
    is_dir = os.path.isdir(case.staged)
    check_refusal(case, expected, clean_staging=not is_dir)
    if is_dir:
        # The guard never deletes a directory; the image is still retryable
        # once an operator removes it.
        assert case.image.status == "queued"
        assert "os_glance_import_task" not in case.image.extra_properties


def test_staged_file_growing_while_hashed(new_import, signed_for,
                                          tmp_path):
    data = os.urandom(96 << 20)
    case = new_import(signed_for(data), data=data)
    with growing(case.staged, pause=0.001):
        check_refusal(case, ["the staged image data changed while the guard "
                             "read it"])


def test_unexpected_staging_uri_scheme(new_import, signed_properties):
    case = new_import(signed_properties)
    fds_before = fds()
    with pytest.raises(plugin.ImportRefused, match="cannot be read"):
        engines.load(glance_flow(case),
                     store={"file_path": "http://127.0.0.1/x"}).run()
    assert case.image.status == "queued"
    assert fds() == fds_before
