"""Digests recorded at staging (``staging``), at flow level: the plugin
uses a record only when it may stand for reading the staged file, and
every other record ends in the verdict a fresh read gives. Records are
made by the guard's own ``staging.record``; the digests in them come from
hashlib, independently of the core."""

import hashlib
import logging
import os

import pytest
from test_plugin import refuse, run

from conftest import sha
from glance_import_guard import staging
from support.signing import tampered


@pytest.fixture(autouse=True)
def guard_enabled(conf):
    conf(group="image_import_opts", image_import_plugins=["import_guard"])


def record(case, data=None, algorithms=("sha256", "sha512"),
           image_id=None):
    """What the filter records after a stage of ``data`` (default: the
    staged bytes)."""
    data = case.data if data is None else data
    assert staging.record(case.staged, image_id or case.image_id, {
        "bytes": len(data),
        "digests": {a: hashlib.new(a, data).hexdigest()
                    for a in algorithms}})


def outcome(case, caplog, refused):
    """Runs the import; returns the plugin's INFO lines about records."""
    with caplog.at_level(logging.INFO, logger="glance_import_guard"):
        if refused:
            refuse(case)
        else:
            run(case)
    return " ".join(r.getMessage() for r in caplog.records
                    if "staging record" in r.getMessage()
                    or "digests recorded" in r.getMessage())


def records_dir(case):
    return os.path.join(os.path.dirname(case.staged), staging.RECORDS)


def test_a_fresh_record_stands_for_reading_the_file(new_import, signed_for,
                                                    caplog):
    data = os.urandom(8192)
    case = new_import(signed_for(data, declare="sha512"), data=data)
    record(case)
    said = outcome(case, caplog, refused=False)
    assert "used the digests recorded when image %s was staged" % \
        case.image_id in said
    assert not os.path.exists(os.path.join(
        records_dir(case), case.image_id + ".json")), "a record is used once"


def test_the_record_is_not_believed_over_the_declared_digest(
        new_import, signed_for, caplog):
    """A record of the staged bytes that match nothing declared: refused,
    exactly as a read would refuse it."""
    data = os.urandom(4096)
    props = signed_for(data, declare="sha512")
    props["img_hash_value"] = sha("sha512", b"other")
    case = new_import(props, data=data)
    record(case)
    message = refuse(case)
    assert "does not match img_hash_value" in message


@pytest.mark.parametrize("change", ["append", "truncate", "rewrite",
                                    "rename"])
def test_a_staged_file_changed_after_staging_is_read_again(
        new_import, signed_for, caplog, change):
    data = os.urandom(4096)
    case = new_import(signed_for(data, declare="sha512"), data=data)
    record(case)
    if change == "append":
        with open(case.staged, "ab") as f:
            f.write(b"!")
    elif change == "truncate":
        os.truncate(case.staged, 100)
    elif change == "rewrite":
        with open(case.staged, "r+b") as f:
            f.write(b"X")
    else:
        other = case.staged + ".new"
        with open(other, "wb") as f:
            f.write(b"Y" + data[1:])
        os.rename(other, case.staged)
    with caplog.at_level(logging.INFO, logger="glance_import_guard"):
        message = refuse(case)
    assert "does not match img_hash_value" in message
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "the staged file changed since it was staged" in said


def test_a_renamed_in_copy_of_the_same_bytes_is_read_and_accepted(
        new_import, signed_for, caplog):
    """rename() of identical bytes: the record is not used (another inode),
    and the fresh read accepts the image."""
    data = os.urandom(4096)
    case = new_import(signed_for(data, declare="sha512"), data=data)
    record(case)
    other = case.staged + ".new"
    with open(other, "wb") as f:
        f.write(data)
    os.rename(other, case.staged)
    said = outcome(case, caplog, refused=False)
    assert "cannot be used: the staged file changed" in said


def test_a_record_without_the_needed_algorithm_is_read_again(
        new_import, signed_for, caplog):
    data = os.urandom(4096)
    case = new_import(signed_for(data, declare="sha3_256"), data=data)
    record(case, algorithms=("sha256", "sha512"))
    said = outcome(case, caplog, refused=False)
    assert "it has no sha3_256 digest" in said


def test_a_record_of_another_image_is_not_used(new_import, signed_for,
                                               caplog):
    """The record of image A copied to image B's name, over B's bytes."""
    data = os.urandom(4096)
    a = new_import(signed_for(data, declare="sha512"), data=data)
    b = new_import(signed_for(data, declare="sha512"),
                   data=tampered(data))
    record(a)
    os.replace(os.path.join(records_dir(a), a.image_id + ".json"),
               os.path.join(records_dir(b), b.image_id + ".json"))
    with caplog.at_level(logging.INFO, logger="glance_import_guard"):
        assert "does not match img_hash_value" in refuse(b)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "it is the record of image %s" % a.image_id in said


def test_a_forged_record_never_makes_a_mismatched_image_active(
        new_import, signed_for, caplog):
    """A record of other bytes, edited to claim this file's identity, or
    sealed with another key: the file is read, and refused."""
    data = os.urandom(4096)
    declared = signed_for(data, declare="sha512")
    other = tampered(data)
    case = new_import(declared, data=other)
    record(case, data=other)
    path = os.path.join(records_dir(case), case.image_id + ".json")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:  # claim the declared bytes' digests
        f.write(text.replace(sha("sha512", other), sha("sha512", data))
                .replace(sha("sha256", other), sha("sha256", data)))
    with caplog.at_level(logging.INFO, logger="glance_import_guard"):
        assert "does not match img_hash_value" in refuse(case)
    assert "its seal does not verify" in " ".join(
        r.getMessage() for r in caplog.records)

    again = new_import(declared, data=other)
    with open(os.path.join(records_dir(again), "key"), "rb") as f:
        key = f.read()
    with open(os.path.join(records_dir(again), "key"), "wb") as f:
        f.write(os.urandom(len(key)))  # the record is of the old key
    try:
        record(again, data=data)
    finally:
        with open(os.path.join(records_dir(again), "key"), "wb") as f:
            f.write(key)
    assert "does not match img_hash_value" in refuse(again)


def test_a_refused_import_removes_the_record_with_the_staged_data(
        new_import, caplog):
    case = new_import({}, data=b"unsigned")
    record(case)
    refuse(case)
    assert not os.path.exists(case.staged)
    assert not os.path.exists(os.path.join(records_dir(case),
                                           case.image_id + ".json"))


def test_a_new_record_sweeps_the_records_whose_staged_file_is_gone(
        tmp_path):
    """A record outlives its staged file when Glance removes the file
    where the guard cannot see it (a worker stopped mid-way, an image
    deleted through another worker): the next record made in that
    staging directory removes it."""
    digests = {"bytes": 1, "digests": {"sha512": "00" * 64}}
    for name in ("kept", "gone", "new"):
        (tmp_path / name).write_bytes(b"x")
    assert staging.record(str(tmp_path / "kept"), "kept", digests)
    assert staging.record(str(tmp_path / "gone"), "gone", digests)
    (tmp_path / "gone").unlink()
    records = tmp_path / staging.RECORDS
    assert {p.name for p in records.iterdir()} == {
        "key", "kept.json", "gone.json"}
    assert staging.record(str(tmp_path / "new"), "new", digests)
    assert {p.name for p in records.iterdir()} == {
        "key", "kept.json", "new.json"}
