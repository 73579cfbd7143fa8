"""The core's threads and Python's: a thread of the core never calls into
Python (its log records wait in a queue a Python thread drains), and
every wait for those threads releases the GIL, so an abandoned upload
can never freeze the process.

The scenarios that froze glance-api run in a child interpreter with a
timeout, so a regression fails here instead of hanging the suite."""

import logging
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import glance_import_guard._core as _core

POLICY = {
    "require_signature": False,
    "required_signature_properties": [],
    "supported_key_types": ["RSA-PSS"],
    "allowed_key_types": [],
    "require_hash": False,
    "hash_algo_property": "img_hash_algo",
    "hash_value_property": "img_hash_value",
    "allowed_hash_algorithms": ["sha256", "sha512"],
    "also_compute": [],
    "certificate": {"require_curve_match": True,
                    "check_certificate_dates": True,
                    "min_rsa_key_size": 2048},
}
PLAN = {"algorithms": ["sha256", "md5"], "declared": None, "signature": None}
SLOT = _core.MIN_CHUNK_SIZE
CHILD_TIMEOUT = 60

PRELUDE = f"""
import gc, logging, os, sys, time
import glance_import_guard._core as _core
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
guard = _core.Guard({POLICY!r})
PLAN = {PLAN!r}
SLOT = _core.MIN_CHUNK_SIZE
"""


def run_child(code):
    """Runs `code` after PRELUDE in a fresh interpreter; its stdout."""
    try:
        out = subprocess.run(
            [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
            capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired as e:
        pytest.fail("the child interpreter froze (killed after %d s); "
                    "stderr: %s" % (CHILD_TIMEOUT, (e.stderr or b"")[-2000:]))
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


# A stream the pass of which logs a progress line for every 4 KiB and has
# megabytes still queued, plus a partial last slot: while the main thread
# frees it, the pass has lines to log.
BUSY_STREAM = """
s = guard.stream(PLAN, chunk_size=SLOT, threads=2, progress_interval=0.0)
for _ in range(8):
    s.update(bytes(1 << 20))
s.update(b"x")
"""

FREE = {
    "abort": "s.abort()\ndel s",
    "del": "del s",
    # Freed by the cycle collector, as in a request thread of glance-api.
    "gc": "cycle = [s]\ncycle.append(cycle)\ndel s, cycle\ngc.collect()",
}


@pytest.mark.parametrize("free", sorted(FREE))
def test_freeing_a_stream_whose_pass_is_logging_does_not_freeze(free):
    out = run_child(BUSY_STREAM + FREE[free] + """
_core.drain_logs()
print("survived")
""")
    assert out.split() == ["survived"]


def test_the_upload_that_froze_glance_api_does_not_freeze():
    """As measured: a body cut short, 5 s of silence (the pass's progress
    line falls due), the client gone; the unfinished stream is freed by
    whichever thread holds the GIL. Default options: no test knob."""
    out = run_child("""
s = guard.stream(PLAN)
s.update(b"x" * 1000)
time.sleep(5.5)
del s
print("survived")
""")
    assert out.split() == ["survived"]


def test_other_threads_run_while_a_stream_is_freed():
    """Freeing a stream waits for the chunk its pass is hashing (64 MiB of
    sha3_512 here, a few hundred ms) with the GIL released."""
    out = run_child("""
import threading
ticks, stop = [0], []
def tick():
    while not stop:
        ticks[0] += 1
        time.sleep(0.001)
ticker = threading.Thread(target=tick)
ticker.start()
s = guard.stream({"algorithms": ["sha3_512"], "declared": None,
                  "signature": None},
                 chunk_size=_core.MAX_CHUNK_SIZE, threads=1)
s.update(bytes(_core.MAX_CHUNK_SIZE))
s.update(bytes(_core.MAX_CHUNK_SIZE))
time.sleep(0.1)  # the pass is hashing the first chunk now
before = ticks[0]
del s
during = ticks[0] - before
stop.append(True)
ticker.join()
print(during)
""")
    assert int(out) > 5


class Recorder(logging.Handler):
    """Every record it is handed, with the thread that handed it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.seen = []

    def emit(self, record):
        self.seen.append((record, threading.get_ident()))

    def progress(self):
        return [r for r, _ in self.seen
                if r.getMessage().startswith("hashing <stream>:")]

    def dropped(self):
        return sum(int(r.getMessage().split()[0]) for r, _ in self.seen
                   if r.getMessage().endswith("log records dropped"))


@pytest.fixture
def recorder():
    top = logging.getLogger("glance_import_guard")
    hasher = logging.getLogger("glance_import_guard.hasher")
    levels = top.level, hasher.level
    handler = Recorder()
    top.addHandler(handler)
    top.setLevel(logging.INFO)
    hasher.setLevel(logging.NOTSET)
    _core.drain_logs()  # what earlier tests left
    handler.seen.clear()
    yield handler
    top.removeHandler(handler)
    top.setLevel(levels[0])
    hasher.setLevel(levels[1])


def only_on_this_thread(recorder):
    me = threading.get_ident()
    strangers = {ident for _, ident in recorder.seen if ident != me}
    assert not strangers, "records emitted on a thread Python did not start"


def test_records_of_the_core_threads_reach_logging_on_a_python_thread(
        recorder):
    stream = _core.Guard(POLICY).stream(
        PLAN, chunk_size=SLOT, threads=2, progress_interval=0.0)
    for _ in range(2):
        stream.update(bytes(1 << 20))
    # The pass logs one line per 4 KiB slot meanwhile, on its own
    # threads: none reaches Python until a call into the core.
    before = len(recorder.seen)
    time.sleep(0.3)
    assert len(recorder.seen) == before
    slots = (2 << 20) // SLOT
    deadline = time.monotonic() + 30
    while len(recorder.progress()) < slots and time.monotonic() < deadline:
        _core.drain_logs()
        time.sleep(0.01)
    stream.finish()
    progress = recorder.progress()
    assert len(progress) == slots
    assert {(r.name, r.levelno) for r in progress} == {
        ("glance_import_guard.hasher", logging.INFO)}
    assert progress[-1].getMessage().startswith(
        "hashing <stream>: %d bytes" % (2 << 20))
    # Stamped when the pass logged them, not when they were drained.
    assert all(a.created <= b.created
               for a, b in zip(progress, progress[1:]))
    only_on_this_thread(recorder)


def test_a_full_queue_drops_the_excess_and_says_how_many(recorder):
    stream = _core.Guard(POLICY).stream(
        PLAN, chunk_size=SLOT, threads=2, progress_interval=0.0)
    stream.update(bytes(8 << 20))  # 2048 lines while nothing drains
    stream.finish()
    slots = (8 << 20) // SLOT
    dropped = recorder.dropped()
    assert 0 < dropped < slots
    assert len(recorder.progress()) + dropped == slots
    [line] = [r for r, _ in recorder.seen if r.name == "glance_import_guard"]
    assert line.levelno == logging.WARNING
    only_on_this_thread(recorder)


def test_records_below_the_loggers_level_are_not_forwarded(
        recorder, tmp_path):
    logging.getLogger("glance_import_guard.hasher").setLevel(logging.WARNING)
    stream = _core.Guard(POLICY).stream(
        PLAN, chunk_size=SLOT, threads=2, progress_interval=0.0)
    stream.update(bytes(1 << 20))
    stream.finish()
    path = tmp_path / "f"
    path.write_bytes(b"x")
    _core.hash_file(path, ["sha256"])  # logs on this thread, at INFO
    _core.drain_logs()
    assert recorder.seen == []
    logging.getLogger("glance_import_guard.hasher").setLevel(logging.NOTSET)
    _core.hash_file(path, ["sha256"])
    [(record, ident)] = recorder.seen
    assert record.getMessage().startswith("hashed ")
    assert (record.name, record.levelno) == (
        "glance_import_guard.hasher", logging.INFO)
    only_on_this_thread(recorder)


def test_abort_ends_a_stream_for_good():
    stream = _core.Guard(POLICY).stream(PLAN, threads=2)
    stream.update(bytes(3 << 20))
    stream.abort()
    stream.abort()  # a second abort: nothing to do
    with pytest.raises(ValueError, match="after abort"):
        stream.update(b"more")
    with pytest.raises(ValueError, match="after abort"):
        stream.finish()
    finished = _core.Guard(POLICY).stream(PLAN)
    finished.update(b"abc")
    assert finished.finish()["bytes"] == 3
    finished.abort()  # after finish: nothing to do
    with pytest.raises(ValueError, match="after finish"):
        finished.update(b"more")


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_progress_interval_must_be_a_duration(bad):
    with pytest.raises(ValueError, match="progress_interval"):
        _core.Guard(POLICY).stream(PLAN, progress_interval=bad)
    with pytest.raises(TypeError):
        _core.Guard(POLICY).stream(PLAN, None, None, 1.0)


def test_abandoned_streams_leave_no_thread_behind():
    out = run_child("""
def threads():
    return len(os.listdir("/proc/self/task"))

def settled(limit):
    # A joined thread leaves /proc a moment after its join returns.
    deadline = time.monotonic() + 5
    while threads() > limit and time.monotonic() < deadline:
        time.sleep(0.01)
    return threads()

def fed():
    s = guard.stream(PLAN, chunk_size=SLOT, threads=2,
                     progress_interval=0.0)
    s.update(bytes(300_000))
    return s

fed().finish()
before = threads()
for _ in range(100):
    fed().abort()
aborted = settled(before)
for _ in range(100):
    s = fed()
    del s
dropped = settled(before)
print(before, aborted, dropped)
""")
    before, aborted, dropped = map(int, out.split())
    assert aborted <= before and dropped <= before, (before, aborted, dropped)
