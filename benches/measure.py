"""What the benchmarks share: timing, sizes of a process, and a run of
``glance-import-guard audit`` with its peak RSS."""

import collections
import json
import os
import pathlib
import re
import resource
import subprocess
import sys
import threading
import time

MiB = 1 << 20
GiB = 1 << 30
CLI = pathlib.Path(sys.executable).parent / "glance-import-guard"


def timed(fn):
    """Seconds one call of ``fn`` takes."""
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def best(repeat, fn):
    return min(timed(fn) for _ in range(repeat))


def round_robin(repeat, cells):
    """The least of ``repeat`` results of each of ``cells`` ({key: a
    function returning seconds}), measured round-robin: each round runs
    every cell once, in turn, so the drift of a shared machine's speed
    falls on all the cells alike."""
    results = {key: [] for key in cells}
    for _ in range(repeat):
        for key, fn in cells.items():
            results[key].append(fn())
    return {key: min(times) for key, times in results.items()}


def mbps(size, seconds):
    return size / 1e6 / seconds


def cpu_seconds(pid):
    """User + system CPU of process ``pid`` (all its threads, live or
    ended), in seconds."""
    fields = pathlib.Path("/proc/%d/stat" % pid).read_text().rsplit(
        ")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm(pid, field):
    """A /proc/<pid>/status size field (VmRSS, VmHWM), in bytes."""
    for line in pathlib.Path("/proc/%d/status" % pid).read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


Audit = collections.namedtuple("Audit", "elapsed reading peak cpu")


def audit(config_dir, *args, verdicts=("ok",)):
    """One ``glance-import-guard audit --format json-lines`` of the glance-api
    in ``config_dir``, each row's verdict one of ``verdicts``: the seconds
    of the whole run, the seconds of its reading (as it logs them), its
    peak RSS in bytes and its CPU seconds. NOTE: VmHWM, sampled, not
    wait4's ru_maxrss, which counts the parent's pages before exec."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen(
        [str(CLI), "audit", "--config-file",
         str(pathlib.Path(config_dir) / "glance-api.conf"),
         "--format", "json-lines", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE)
    peak = [0]

    def sample():
        while child.poll() is None:
            try:
                peak[0] = max(peak[0], vm(child.pid, "VmHWM"))
            except (OSError, KeyError):
                pass
            time.sleep(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    out, err = child.communicate()
    sampler.join()
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    found = {json.loads(line)["verdict"] for line in out.splitlines()}
    assert found <= set(verdicts), (found, err)
    reading = float(re.search(rb"bytes read in ([0-9.]+) s",
                              err).group(1))
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime
           - before.ru_stime)
    return Audit(elapsed, reading, peak[0], cpu)


def cpu_ticks():
    """The machine's CPU time so far, from /proc/stat's ``cpu`` line: (all
    ticks, steal ticks). Steal is the time the hypervisor ran other guests
    while this one wanted a CPU."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields), (fields[7] if len(fields) > 7 else 0)


def steal_since(before):
    """The share of CPU time stolen since ``before`` (a ``cpu_ticks()``)."""
    total, steal = cpu_ticks()
    return (steal - before[1]) / max(1, total - before[0])

