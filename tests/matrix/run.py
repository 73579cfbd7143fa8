"""The release matrix: the guard's wheel in each supported OpenStack
release's glance, installed as operators install it, on that release's
Python.

    python tests/matrix/run.py [--wheel WHEEL] [--jobs N] [--venvs-only]
                               [PAIR ...]

Each pair is a release and a Python version (``2024.1-py3.9``). For each
selected pair (all when none is named) it

- makes a virtualenv in ``.matrix/<pair>/venv`` with
  ``pip install -c upper-constraints-<release>.txt glance==X pytest
  hypothesis gunicorn uwsgi openstacksdk``, once: the venv is reused while the
  constraints file, the requirements and the interpreter are unchanged
  (their hash is in ``.matrix/<pair>/inputs``);
- reinstalls the guard's wheel into it (``--force-reinstall --no-deps``, so
  a rebuilt wheel is always the one tested, then once more with its
  dependencies, under the same constraints);
- runs the flow, differential and end-to-end tests there (not the load and
  property tests) and prints the versions and pytest's result line.

Pairs run side by side, ``--jobs`` at a time (default: one per CPU); each
line of output names its pair. It ends with a table and exits non-zero if
any pair failed. The wheel is
``--wheel``, else ``$MATRIX_WHEEL``, else the newest
``target/wheels/glance_import_guard-*.whl``. ``$MATRIX_PYTEST_ARGS`` adds
pytest arguments (``-x``, ``-k ...``); ``$MATRIX_DIR`` moves ``.matrix``.
Interpreters come from ``$MATRIX_PY39`` (``$MATRIX_PY310``...) if set,
else pyenv's versions folder, else ``python3.X`` on PATH.

The constraints files in ``constraints/`` are copies of
openstack/requirements' ``upper-constraints.txt`` for each release (master
stands for 2026.2); glance itself is not in them, so each pair names the
newest glance of its series on PyPI.
"""

import argparse
import concurrent.futures
import contextlib
import fcntl
import hashlib
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
MATRIX = pathlib.Path(os.environ.get("MATRIX_DIR", ROOT / ".matrix"))

# pair -> (constraints file, glance, Python)
PAIRS = {
    "2024.1-py3.9": ("2024.1", "28.2.0", "3.9"),
    "2024.1-py3.10": ("2024.1", "28.2.0", "3.10"),
    "2025.1-py3.12": ("2025.1", "30.2.0", "3.12"),
    "2025.2-py3.12": ("2025.2", "31.1.0", "3.12"),
    "2026.1-py3.12": ("2026.1", "32.0.0", "3.12"),
    "2026.2-py3.13": ("2026.2-master", "33.0.0", "3.13"),
}
# uwsgi: the upload filter is tested under uWSGI too (it builds from
# source once per Python; pip caches the wheel).
REQUIREMENTS = ["pytest", "hypothesis", "gunicorn", "uwsgi", "openstacksdk"]
# Bump when the way a venv is made changes, to remake every venv.
RECIPE = "1"

TESTS = [
    "tests/unit/test_core.py",
    "tests/unit/test_opts.py",
    "tests/unit/test_keymanager.py",
    "tests/unit/test_cli.py",
    "tests/unit/test_trust.py",
    "tests/unit/test_policies.py",
    "tests/flow/test_plugin.py",
    "tests/flow/test_glance_download.py",
    "tests/flow/test_staging.py",
    "tests/flow/test_bad_inputs.py",
    "tests/unit/test_differential.py",
    "tests/e2e/test_e2e.py",
    "tests/e2e/test_e2e_signatures.py",
    "tests/e2e/test_e2e_upload.py",
    "tests/e2e/test_e2e_staging.py",
    "tests/unit/test_routes.py",
    "tests/e2e/test_e2e_forms.py",
    "tests/e2e/test_e2e_abandoned.py",
]
PYTEST_TIMEOUT = 30 * 60  # seconds per pair; a hung server must not hang CI

VERSIONS = """\
import importlib.metadata as m, platform
print(platform.python_version())
for name in ("glance", "cursive", "cryptography", "gunicorn"):
    print(m.version(name))
"""


def shown(path):
    """`path` relative to the repository when it is inside it."""
    try:
        return path.relative_to(ROOT)
    except ValueError:
        return path


_LOG = threading.Lock()


def log(message=""):
    with _LOG:  # pairs log from threads of their own
        print(message, flush=True)


def constraints_file(release):
    return HERE / "constraints" / ("upper-constraints-%s.txt" % release)


def find_python(version):
    """An interpreter for `version` ("3.12"): $MATRIX_PY312, pyenv's
    newest 3.12.x, or python3.12 on PATH."""
    env = "MATRIX_PY" + version.replace(".", "")
    candidates = [os.environ.get(env)]
    pyenv = pathlib.Path(os.environ.get("PYENV_ROOT",
                                        pathlib.Path.home() / ".pyenv"))

    def patch_level(path):  # 3.12.1 -> 1; -1 for 3.12-dev and the like
        return int(path.name.rsplit(".", 1)[1]) \
            if re.fullmatch(r"\d+\.\d+\.\d+", path.name) else -1

    versions = sorted(pyenv.glob("versions/%s.*" % version), key=patch_level,
                      reverse=True)
    candidates += [str(v / "bin" / ("python" + version)) for v in versions
                   if patch_level(v) >= 0]
    candidates.append(shutil.which("python" + version))
    for candidate in filter(None, candidates):
        try:
            out = subprocess.run(
                [candidate, "-c", "import sys; print('%d.%d' % "
                 "sys.version_info[:2]); print(sys.version)"],
                capture_output=True, text=True, check=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            continue
        found, full = out.stdout.split("\n", 1)
        if found == version:
            return candidate, full.strip()
    raise RuntimeError("no Python %s found (set %s, or install it with "
                       "pyenv)" % (version, env))


def find_wheel(given):
    wheel = given or os.environ.get("MATRIX_WHEEL")
    if wheel:
        path = pathlib.Path(wheel)
        if path.is_dir():
            return newest_wheel(path)
        if not path.is_file():
            raise RuntimeError("no wheel at %s" % path)
        return path.resolve()
    return newest_wheel(ROOT / "target" / "wheels")


def newest_wheel(folder):
    wheels = sorted(pathlib.Path(folder).glob("glance_import_guard-*.whl"),
                    key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise RuntimeError("no glance_import_guard wheel in %s (make wheel)"
                           % folder)
    return wheels[-1].resolve()


def run(command, **kwargs):
    return subprocess.run([str(c) for c in command], check=True, **kwargs)


def pip(venv, *args):
    run([venv / "bin" / "python", "-m", "pip", "--disable-pip-version-check",
         "--no-input", "-q", *args])


class Pair:
    def __init__(self, name):
        self.name = name
        self.release, self.glance, self.python_version = PAIRS[name]
        self.folder = MATRIX / name
        self.venv = self.folder / "venv"
        self.constraints = constraints_file(self.release)
        self.requirements = ["glance==%s" % self.glance] + REQUIREMENTS
        self.versions = {}
        self.venv_seconds = self.test_seconds = None
        self.venv_reused = False
        self.result = "not run"
        self.ok = False

    @contextlib.contextmanager
    def locked(self):
        """One run per pair at a time (make test and make matrix may
        overlap); another run waits."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log("[%s] waiting for another run of this pair" % self.name)
                fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    def inputs_hash(self, interpreter, interpreter_version):
        h = hashlib.sha256()
        for part in (RECIPE, interpreter, interpreter_version,
                     " ".join(self.requirements)):
            h.update(part.encode() + b"\0")
        h.update(self.constraints.read_bytes())
        return h.hexdigest()

    def ensure_venv(self):
        """Makes the venv unless one made from the same inputs is there."""
        start = time.monotonic()
        interpreter, interpreter_version = find_python(self.python_version)
        key = self.inputs_hash(interpreter, interpreter_version)
        stamp = self.folder / "inputs"
        if stamp.exists() and stamp.read_text().strip() == key \
                and (self.venv / "bin" / "python").exists():
            self.venv_reused = True
            self.venv_seconds = time.monotonic() - start
            log("[%s] venv reused (inputs unchanged)" % self.name)
            return
        log("[%s] making %s (Python %s, glance %s, constraints %s)" % (
            self.name, shown(self.venv), self.python_version,
            self.glance, shown(self.constraints)))
        if stamp.exists():
            stamp.unlink()
        shutil.rmtree(self.venv, ignore_errors=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        run([interpreter, "-m", "venv", self.venv])
        pip(self.venv, "install", "-c", self.constraints, *self.requirements)
        stamp.write_text(key + "\n")
        self.venv_seconds = time.monotonic() - start
        log("[%s] venv made in %.0fs" % (self.name, self.venv_seconds))

    def install_wheel(self, wheel):
        # --no-deps: the dependencies stay as the constraints put them; the
        # second install adds any the wheel newly needs (usually a no-op).
        pip(self.venv, "install", "-c", self.constraints, "--force-reinstall",
            "--no-deps", wheel)
        pip(self.venv, "install", "-c", self.constraints, wheel)

    def read_versions(self):
        out = run([self.venv / "bin" / "python", "-c", VERSIONS],
                  capture_output=True, text=True).stdout.split()
        self.versions = dict(zip(
            ("python", "glance", "cursive", "cryptography", "gunicorn"), out))
        log("[%s] python %s, glance %s, cursive %s, cryptography %s, "
            "gunicorn %s" % (self.name, *out))

    def run_tests(self, extra_args):
        tests = [t for t in TESTS if (ROOT / t).exists()]
        missing = sorted(set(TESTS) - set(tests))
        if missing:
            log("[%s] not found, not run: %s" % (self.name, " ".join(missing)))
        log_path = self.folder / "pytest.log"
        command = [str(self.venv / "bin" / "pytest"), "-q",
                   "-o", "cache_dir=%s" % (self.folder / "pytest-cache"),
                   *extra_args, *tests]
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PATH"] = "%s:%s" % (self.venv / "bin", env.get("PATH", ""))
        env.setdefault("COLUMNS", "200")
        log("[%s] %s > %s" % (self.name, shlex.join(command),
                              shown(log_path)))
        start = time.monotonic()
        with open(log_path, "w") as out:
            try:
                rc = subprocess.run(command, cwd=ROOT, env=env, stdout=out,
                                    stderr=subprocess.STDOUT,
                                    timeout=PYTEST_TIMEOUT).returncode
            except subprocess.TimeoutExpired:
                rc = None
        self.test_seconds = time.monotonic() - start
        lines = log_path.read_text(errors="replace").splitlines()
        results = [line for line in lines
                   if re.match(r"^=* ?\d+ \w+.* in [\d.]+s", line)
                   or re.match(r"^=+ (no tests ran|.* in [\d.]+s)", line)]
        self.result = results[-1].strip("= ") if results else (
            "timed out after %ds" % PYTEST_TIMEOUT if rc is None
            else "pytest exited %s" % rc)
        self.ok = rc == 0
        if not self.ok:
            # pytest's short summary (-ra): one line per failure.
            summary = False
            for line in lines:
                if "short test summary info" in line:
                    summary = True
                elif summary and not line.startswith("=") \
                        and line not in results:
                    log("[%s]   %s" % (self.name, line))
            log("[%s] full log: %s" % (self.name, log_path))
        log("[%s] %s (%.0fs)" % (self.name, self.result, self.test_seconds))


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Run the guard's tests in each release's glance.")
    parser.add_argument("pairs", nargs="*", metavar="PAIR",
                        help="any of %s (default: all)" % ", ".join(PAIRS))
    parser.add_argument("--wheel", help="the guard's wheel (default: "
                        "$MATRIX_WHEEL, else target/wheels/)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="pairs run at once (default: the number of "
                        "CPUs)")
    parser.add_argument("--venvs-only", action="store_true",
                        help="make (or keep) each pair's venv and stop: no "
                        "wheel needed, nothing tested (make test does this "
                        "while the wheel builds)")
    args = parser.parse_args(argv)
    names = [p for arg in args.pairs for p in arg.split()] or list(PAIRS)
    unknown = [n for n in names if n not in PAIRS]
    if unknown:
        parser.error("unknown pair(s) %s; known: %s" % (
            " ".join(unknown), " ".join(PAIRS)))
    wheel = None if args.venvs_only else find_wheel(args.wheel)
    extra = shlex.split(os.environ.get("MATRIX_PYTEST_ARGS", ""))
    if wheel:
        log("wheel: %s" % wheel)
    pairs = [Pair(n) for n in names]
    jobs = max(1, min(args.jobs, len(pairs)))
    log("%d pair(s), %d at a time" % (len(pairs), jobs))

    def one(pair):
        with pair.locked():
            log("[%s] started" % pair.name)
            try:
                pair.ensure_venv()
                if args.venvs_only:
                    pair.ok, pair.result = True, "venv ready"
                    return
                pair.install_wheel(wheel)
                pair.read_versions()
            except (RuntimeError, OSError,
                    subprocess.CalledProcessError) as e:
                pair.result = "setup failed: %s" % e
                log("[%s] %s" % (pair.name, pair.result))
                return
            pair.run_tests(extra)

    # Each pair is a pytest of its own (its own venv, servers on ports of
    # their own, its own .matrix/<pair>/), so pairs run side by side: one
    # pair keeps about two thirds of a core busy (measured: 500 s of CPU
    # in 761 s), most of the rest is waiting on its servers.
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, pairs))
    table(pairs)
    ok = sum(1 for p in pairs if p.ok)
    log("matrix: %d passed, %d failed" % (ok, len(pairs) - ok))
    return 0 if ok == len(pairs) else 1


def table(pairs):
    def seconds(value, reused=False):
        if value is None:
            return "-"
        return "reused" if reused else "%.0fs" % value

    rows = [("pair", "python", "glance", "cursive", "cryptography", "venv",
             "tests", "result")]
    for p in pairs:
        v = p.versions
        rows.append((p.name, v.get("python", "-"), v.get("glance", "-"),
                     v.get("cursive", "-"), v.get("cryptography", "-"),
                     seconds(p.venv_seconds, p.venv_reused),
                     seconds(p.test_seconds),
                     ("ok: " if p.ok else "FAILED: ") + p.result))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    log()
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row, widths)] + [row[-1]]
        log("  ".join(cells))


if __name__ == "__main__":
    sys.exit(main())
