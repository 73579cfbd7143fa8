"""The bindings, checked against Python's own implementations."""

import ast
import base64
import binascii
import contextlib
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glance_import_guard as guard
from conftest import growing
from glance_import_guard import _core

HASHLIB_NAMES = [a for a in guard.algorithms() if a != "blake3"]
VECTORS = json.loads(
    (pathlib.Path(__file__).parents[1] / "vectors" / "digests.json")
    .read_text())


def test_registry_lists_every_hashlib_guaranteed_name_and_blake3():
    assert set(HASHLIB_NAMES) == {
        "md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_224",
        "sha3_256", "sha3_384", "sha3_512", "blake2b", "blake2s"}
    assert set(HASHLIB_NAMES) <= hashlib.algorithms_guaranteed
    assert "blake3" in guard.algorithms()


def test_signature_hash_methods_match_cursive():
    from cursive import signature_utils
    assert set(guard.signature_hash_methods()) == set(
        signature_utils.HASH_METHODS)
    for method, name in guard.signature_hash_methods().items():
        assert signature_utils.HASH_METHODS[method].name == name


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, (1 << 20) + 3])
def test_hash_file_matches_hashlib(tmp_path, size):
    data = os.urandom(size)
    path = tmp_path / "image"
    path.write_bytes(data)
    got = guard.hash_file(path, HASHLIB_NAMES, chunk_size=4096)
    assert got == {n: hashlib.new(n, data).hexdigest()
                   for n in HASHLIB_NAMES}


def test_blake3_matches_published_vectors(tmp_path):
    cases = [c for c in VECTORS["cases"] if "blake3" in c["digests"]]
    assert len(cases) >= 5
    for case in cases:
        path = tmp_path / str(case["input_len"])
        path.write_bytes(bytes(i % 251 for i in range(case["input_len"])))
        assert guard.hash_file(str(path), ["BLAKE3"]) == {
            "blake3": case["digests"]["blake3"]}


def test_hash_file_errors_are_typed(tmp_path):
    with pytest.raises(ValueError, match="unknown digest algorithm"):
        guard.hash_file(tmp_path, ["crc32"])
    with pytest.raises(guard.StagedFileError, match="not a regular file"):
        guard.hash_file(tmp_path, ["sha256"])
    with pytest.raises(guard.StagedFileError, match="No such file"):
        guard.hash_file(tmp_path / "missing", ["sha256"])
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(guard.StagedFileError, match="FIFO"):
        guard.hash_file(fifo, ["sha256"])
    with pytest.raises(ValueError, match="chunk size"):
        guard.hash_file(tmp_path / "x", ["sha256"], chunk_size=10)
    assert issubclass(guard.StagedFileError, guard.GuardError)
    assert issubclass(guard.PolicyError, guard.GuardError)


@contextlib.contextmanager
def ticks_meanwhile():
    """Counts how often another Python thread ran during the block (not a
    timing assertion: it shows the GIL was released at all)."""
    ticks, done = [], threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    time.sleep(0.01)
    counted = []
    before = len(ticks)
    try:
        yield counted
    finally:
        counted.append(len(ticks) - before)
        done.set()
        t.join()


def test_other_threads_run_while_a_file_is_hashed(tmp_path):
    path = tmp_path / "big"
    with open(path, "wb") as f:
        f.truncate(256 << 20)
    with ticks_meanwhile() as during:
        guard.hash_file(path, ["sha512", "sha3_512"])
    assert during[0] > 5


def policy(**changes):
    from oslo_config import cfg

    from glance_import_guard import opts
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf([])
    p = opts.policy(conf)
    p.update(changes)
    return p


def test_check_properties_returns_codes_and_a_plan():
    verdict = guard.Guard(policy(require_signature=False)).check_properties(
        {"img_hash_algo": "SHA256", "img_hash_value": "AB" * 32},
        exempt=False)
    assert verdict == {
        "problems": [], "signature_required": False, "read_data": True,
        "plan": {"algorithms": ["sha256"], "signature": None,
                 "declared": {"algorithm": "sha256", "value": "ab" * 32,
                              "property": "img_hash_value"}}}


def test_bad_policy_is_a_policy_error_not_a_crash():
    with pytest.raises(guard.PolicyError, match="invalid policy"):
        guard.Guard({"require_signature": "yes"})
    with pytest.raises(guard.PolicyError, match="missing field"):
        guard.Guard({})
    with pytest.raises(guard.PolicyError, match="unknown digest"):
        guard.Guard(policy(allowed_hash_algorithms=["x"]))
    with pytest.raises(guard.PolicyError, match="cannot verify"):
        guard.Guard(policy(allowed_key_types=["ECC_SECP256R1"]))


def test_a_callers_bad_arguments_are_type_and_value_errors():
    g = guard.Guard(policy())
    with pytest.raises(TypeError):
        g.check_properties({"a": 1}, exempt=False)
    with pytest.raises(ValueError, match="invalid plan"):
        g.check_file("/dev/null", {"algorithms": ["crc32"]})
    with pytest.raises(ValueError, match="invalid problems"):
        guard.refusal_message("i", [{"code": "nope"}])
    with pytest.raises(ValueError, match="unknown problem code"):
        guard.problem("no-such-code", "m")
    with pytest.raises(ValueError, match="hashing threads"):
        guard.hash_file("/dev/null", ["md5"], threads=guard.MAX_THREADS + 1)


def test_pass_threads_tells_what_a_pass_runs():
    cores = len(os.sched_getaffinity(0))
    # One thread reads and hashes; more than can be busy (the reader and
    # one per digest) are never started; a file of one chunk is one
    # thread's work.
    assert guard.pass_threads(["md5", "sha512"], threads=1) == 1
    assert guard.pass_threads(["md5", "sha512"], threads=16) == 3
    assert guard.pass_threads(["md5", "md5"], threads=16) == 2
    assert guard.pass_threads(["md5", "sha512"], size=1000, threads=3) == 1
    assert guard.pass_threads([], threads=4) == 1
    # AUTO: never more threads than cores, two wherever there are two.
    for names in (["md5", "sha512"], ["md5", "sha512", "sha256"],
                  ["sha512"], ["blake3"]):
        auto = guard.pass_threads(names)
        assert 1 <= auto <= cores, names
        if cores >= 2:
            assert auto >= 2, names
    with pytest.raises(ValueError, match="hashing threads"):
        guard.pass_threads(["md5"], threads=guard.MAX_THREADS + 1)
    with pytest.raises(ValueError):
        guard.pass_threads(["crc32"])


def test_keyword_only_arguments(tmp_path):
    g = guard.Guard(policy())
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(TypeError):
        guard.hash_file("/dev/null", ["md5"], 4096)
    with pytest.raises(TypeError):
        g.check_file("/dev/null", {"algorithms": []}, 4096)
    with pytest.raises(TypeError):
        g.check_certificate(b"", {}, 0)
    # The exemption is a decision the caller names, never a list of
    # roles the core would weigh.
    with pytest.raises(TypeError):
        g.check_properties({}, [])
    with pytest.raises(TypeError):
        g.check_properties({})
    assert guard.hash_file(empty, ["md5"], chunk_size=4096,
                           threads=guard.AUTO_THREADS) == {
        "md5": hashlib.md5(b"").hexdigest()}


def test_problems_found_outside_the_core_are_made_by_the_core():
    assert guard.problem("signature-mismatch", "m") == {
        "code": "signature-mismatch", "property": None, "message": "m"}
    assert guard.problem("bad-hash-value", "m", property="p")[
        "property"] == "p"


def test_signature_properties_are_cursives():
    from cursive import signature_utils
    assert guard.SIGNATURE_PROPERTIES == [
        signature_utils.SIGNATURE, signature_utils.HASH_METHOD,
        signature_utils.KEY_TYPE, signature_utils.CERT_UUID]


def test_check_file_compares_the_declared_digest(tmp_path):
    path = tmp_path / "image"
    path.write_bytes(b"abc")
    g = guard.Guard(policy(require_signature=False))
    plan = g.check_properties(
        {"img_hash_algo": "sha256",
         "img_hash_value": hashlib.sha256(b"abd").hexdigest()},
        exempt=False)["plan"]
    result = g.check_file(path, plan)
    assert result["bytes"] == 3
    assert result["digests"] == {"sha256": hashlib.sha256(b"abc").hexdigest()}
    assert [p["code"] for p in result["problems"]] == ["digest-mismatch"]


def test_check_file_reports_an_unreadable_file_as_a_problem(tmp_path):
    g = guard.Guard(policy(require_signature=False))
    result = g.check_file(tmp_path / "gone", {
        "algorithms": ["sha256"], "declared": None, "signature": None})
    assert result["bytes"] is None
    assert [p["code"] for p in result["problems"]] == [
        "staged-data-unreadable"]
    assert str(tmp_path) not in result["problems"][0]["message"]


def test_no_panic_exception_crosses_the_boundary():
    # PanicException derives from BaseException, so Glance would not catch
    # it. Bad values in every argument position give ordinary, documented
    # exceptions instead.
    for call in (lambda: guard.hash_file(None, ["sha256"]),
                 lambda: guard.hash_file("/x", None),
                 lambda: guard.hash_file("/x", ["sha256"], chunk_size=-1),
                 lambda: guard.Guard(policy()).check_file("/x", None),
                 lambda: guard.Guard(policy()).check_properties(
                     None, exempt=False),
                 lambda: guard.Guard(None),
                 lambda: guard.b64decode(None)):
        with pytest.raises((TypeError, ValueError, OverflowError,
                            guard.GuardError)):
            call()


# cursive decodes img_signature with Python's lenient base64.b64decode; the
# core's decoder must agree with it on everything, including junk.
ODD_INPUTS = [
    "", "=", "==", "===", "====", "a", "ab", "abc", "abcd", "ab=", "ab==",
    "abc=", "ab=c", "a=b=c=d", "=abcd", "ab==cd==", "abc=defg", "ab\n==",
    "YWJj\r\nZGVm\n", " Y W J j ", "YWJj-_", "YW_Jj", "YWJj!!!!", "Y\x00WJj",
    "YWJjZA", "YWJjZA=", "YWJjZA==", "YWJjZA===", "YWJjZGU", "YWJjZGU=",
    "YWJjZGU==", "QQ=A=", "QQ=A==", "Q=Q=", "Q==Q", "aB==", "aGk=aGk=",
    "\t\nYWJj\t", "YWJj\u00e9", "\u00e9", "=\u00e9",
]


def python_decode(value):
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError):
        return None


def core_decode(value):
    try:
        return guard.b64decode(value)
    except ValueError:
        return None


@pytest.mark.parametrize("value", ODD_INPUTS)
def test_b64decode_agrees_with_python_on_odd_inputs(value):
    assert core_decode(value) == python_decode(value)


def test_b64decode_accepts_openssl_wrapped_output():
    raw = os.urandom(512)
    wrapped = base64.encodebytes(raw).decode()  # 76-column lines
    assert "\n" in wrapped.strip()
    assert guard.b64decode(wrapped) == raw


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.sampled_from(
    "ABCDabcd0189+/=-_ \n\r\t.!\x00\u00e9"), max_size=40))
def test_b64decode_agrees_with_python_on_generated_inputs(value):
    assert core_decode(value) == python_decode(value)


def test_log_records_from_rust_reach_python_logging(tmp_path, caplog):
    import logging
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with caplog.at_level(logging.DEBUG, logger="glance_import_guard"):
        guard.hash_file(path, ["sha256"])
    assert any(r.name == "glance_import_guard.hasher" and
               "hashed" in r.getMessage() for r in caplog.records)


def test_module_constants():
    assert _core.MIN_CHUNK_SIZE <= _core.DEFAULT_CHUNK_SIZE
    assert _core.DEFAULT_CHUNK_SIZE <= _core.MAX_CHUNK_SIZE


def test_unreadable_file_is_a_staged_file_error(tmp_path):
    """Root reads anything, so the hash runs in a child process without
    the capabilities that bypass file permissions (setpriv, util-linux)."""
    path = tmp_path / "unreadable"
    path.write_bytes(b"data")
    path.chmod(0)
    code = ("import glance_import_guard as g\n"
            "try:\n"
            "    g.hash_file(%r, ['sha256'])\n"
            "except g.StagedFileError as e:\n"
            "    print('StagedFileError:', e)\n" % str(path))
    out = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
         sys.executable, "-c", code],
        capture_output=True, text=True, check=True)
    assert "StagedFileError: cannot read staged file" in out.stdout
    assert "Permission denied" in out.stdout


def test_file_changed_while_read_is_reported(tmp_path):
    path = tmp_path / "growing"
    path.write_bytes(os.urandom(64 << 20))
    with growing(path), pytest.raises(guard.StagedFileChanged,
                                      match="changed while it was read"):
        for _ in range(20):  # each pass takes tens of milliseconds
            guard.hash_file(path, ["sha512"], threads=1)


def test_errors_leave_the_process_alive_and_typed():
    """Every error path of the core, driven from a child interpreter that
    must exit normally: documented exceptions only, no PanicException, no
    abort."""
    code = textwrap.dedent("""
        import glance_import_guard as g
        from glance_import_guard import opts
        from oslo_config import cfg
        conf = cfg.ConfigOpts()
        opts.register(conf)
        conf([])
        guard = g.Guard(opts.policy(conf))
        calls = [
            lambda: g.hash_file('/nonexistent', ['sha256']),
            lambda: g.hash_file('/', ['sha256']),
            lambda: g.hash_file('/dev/null', ['nope']),
            lambda: g.hash_file('/dev/null', ['sha256'], chunk_size=1),
            lambda: g.Guard({}),
            lambda: g.Guard({'require_signature': 3}),
            lambda: guard.check_file('/dev/null', {'algorithms': ['x']}),
            lambda: guard.check_file('/dev/null', {'algorithms': []}),
            lambda: g.Guard([]),
            lambda: g.b64decode('\\u00e9'),
            lambda: guard.check_certificate(b'junk', {}),
            lambda: g.refusal_message('i', [{'code': 'nope'}]),
        ]
        kinds = []
        for call in calls:
            try:
                call()
                kinds.append('ok')
            except Exception as e:
                kinds.append(type(e).__name__)
        print(kinds)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "PanicException" not in out.stdout + out.stderr
    kinds = ast.literal_eval(out.stdout)
    assert kinds == [
        "StagedFileError", "StagedFileError", "ValueError", "ValueError",
        "PolicyError", "PolicyError", "ValueError", "ok",
        "PolicyError", "ValueError", "ValueError", "ValueError"], kinds


def test_a_stream_gives_the_digests_of_its_bytes_in_any_chunking():
    g = guard.Guard(policy(require_signature=False))
    data = os.urandom(3 << 20) + b"tail"
    plan = g.check_properties(
        {"img_hash_algo": "sha256",
         "img_hash_value": hashlib.sha256(data).hexdigest()},
        exempt=False)["plan"]
    plan["algorithms"] += ["md5", "sha512"]
    for chunk in (1 << 16, 12345, len(data)):
        stream = g.stream(plan, threads=2)
        for i in range(0, len(data), chunk):
            stream.update(data[i:i + chunk])
        result = stream.finish()
        assert result["bytes"] == len(data)
        assert result["digests"] == {
            n: hashlib.new(n, data).hexdigest()
            for n in ("md5", "sha256", "sha512")}
        assert result["problems"] == []
    stream = g.stream(plan)
    stream.update(data[:-1])
    assert [p["code"] for p in stream.finish()["problems"]] == [
        "digest-mismatch"]
    with pytest.raises(ValueError, match="after finish"):
        stream.update(b"more")
    with pytest.raises(ValueError):
        stream.finish()
    with pytest.raises(TypeError):
        g.stream(plan, 4096)


def test_other_threads_run_while_a_stream_is_fed():
    g = guard.Guard(policy(require_signature=False))
    stream = g.stream({"algorithms": ["sha512", "sha3_512"],
                       "declared": None, "signature": None}, threads=1)
    chunk = os.urandom(8 << 20)
    with ticks_meanwhile() as during:
        for _ in range(12):
            stream.update(chunk)
        stream.finish()
    assert during[0] > 5
