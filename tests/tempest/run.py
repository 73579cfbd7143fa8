"""Tempest's image API tests (``tempest.api.image.v2``) against the
project's real stack, in three configurations of glance-api:

``alone``
    Glance as it ships: no import plugin, no ``import_guard`` filter.
``exempt``
    The guard's plugin and filter, with every role Tempest's users have in
    ``[import_guard] exempt_roles`` and ``exempt_service_roles``. Must give
    what ``alone`` gives, test by test (pass, fail or skip).
``guard``
    The guard's plugin and filter on their default options. May differ
    from ``alone`` only in the tests of expected-differences.txt (tests
    that give an image unsigned data), each failing with the guard's
    refusal (a 400 or 403 with its message, or an import task that
    failed with it), never a 500;
    every listed test must differ (no stale entries).

One stack (tests/support/openstack.py: PostgreSQL, Keystone, Barbican, a
glance-api in each region under gunicorn with the stock ``keystone``
flavor) is started once; only RegionOne's glance-api is restarted between
configurations. RegionOne's Glance is made what Tempest expects of a
devstack one (multi-store jobs): two file stores ``cheap`` and ``fast`` and
a read-only http store ``web``, the import methods glance-direct,
web-download, glance-download and copy-image, the test image (a small
qcow2, ``[image] http_image`` and ``http_qcow2_image``) on a local HTTP
server, the metadata definitions loaded, locations listed in insertion
order. Tempest's tests that need Nova, image caching, a second glance-api
worker or ``show_multiple_locations`` skip, as on a default devstack.

    .venv/bin/python tests/tempest/run.py [--only alone,guard] [--keep]

Prints one summary line and exits 1 on any violation (with the tests and
the ends of their failures), 2 if the stack or Tempest could not run.
"""

import argparse
import os
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from support import harness  # noqa: E402
from support import openstack as stack  # noqa: E402

REGION = "RegionOne"
STORES = ("cheap", "fast")
TESTS = r"^tempest\.api\.image\.v2\."
CONCURRENCY = 2
EXPECTED = HERE / "expected-differences.txt"
# Every role Tempest's users have: its dynamic credentials give "member"
# (primary), "reader" (project_reader), "admin" (admin); Keystone's
# bootstrap also makes "manager", and "service" is the service users'.
TEMPEST_ROLES = ["admin", "member", "reader", "manager", "service"]
CONFIGURATIONS = {
    "alone": {"guard": False, "import_guard": {}},
    "exempt": {"guard": True, "import_guard": {
        "exempt_roles": TEMPEST_ROLES,
        "exempt_service_roles": TEMPEST_ROLES}},
    "guard": {"guard": True, "import_guard": {}},
}
# The guard's refusal: the start of its message, with what was not done at
# the door (src/problem.rs, Action).
REFUSAL = re.compile(r"Image \S+ was not (?:imported|uploaded|staged|changed"
                     r"|created): \(1\) ")
SERVER_ERROR = re.compile(r"ServerFault|Got server fault|"
                          r"Internal Server Error|500 Internal")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                  r"[0-9a-f]{12}\b")


def qcow2(virtual_size=1 << 20):
    """A small valid empty qcow2 (version 3, 64 KiB clusters): header,
    refcount table, refcount block, L1 table (qemu-img check: no errors).
    What web-download fetches: Glance checks that a qcow2 is one."""
    cluster = 1 << 16
    out = bytearray(4 * cluster)
    header = struct.pack(
        ">4sIQIIQIIQQIIQQQQII", b"QFI\xfb", 3, 0, 0, 16, virtual_size,
        0,  # crypt_method
        1, 3 * cluster,  # l1_size, l1_table_offset
        cluster, 1,  # refcount_table_offset, refcount_table_clusters
        0, 0,  # nb_snapshots, snapshots_offset
        0, 0, 0,  # incompatible, compatible, autoclear features
        4, 104)  # refcount_order (16 bits), header_length
    out[:len(header)] = header
    out[cluster:cluster + 8] = struct.pack(">Q", 2 * cluster)
    for i in range(4):  # the four clusters in use, one reference each
        out[2 * cluster + 2 * i:2 * cluster + 2 * i + 2] = b"\0\1"
    return bytes(out)


def glance_config(folder):
    """RegionOne's Glance as devstack's multi-store jobs make it for
    Tempest: two file stores and a read-only http store ``web`` (what
    Tempest's location tests expect). web-download and glance-download
    may fetch from any port of 127.0.0.1 (the harness's
    import_filtering_opts), where the test image and the Glances are."""
    stores = {name: {"filesystem_store_datadir": str(folder / name)}
              for name in STORES}
    for name in STORES:
        (folder / name).mkdir(parents=True, exist_ok=True)
    return {REGION: {
        "DEFAULT": {
            "enabled_backends": ", ".join(
                ["%s:file" % s for s in STORES] + ["web:http"]),
            "enabled_import_methods": "[glance-direct, web-download, "
                                      "glance-download, copy-image]",
        },
        "glance_store": {"default_backend": STORES[-1]},
        # what devstack sets for every service; Glance's location import
        # takes a file lock (task_cancellation_tracker)
        "oslo_concurrency": {"lock_path": str(folder / "locks")},
        **stores,
    }}


def tempest_conf(cloud, image_url, log_dir):
    """tempest.conf: what devstack's lib/tempest sets for a cloud that has
    only Keystone and Glance (with the import workflow)."""
    services = ("nova", "cinder", "neutron", "swift", "horizon")
    return harness._ini({
        "DEFAULT": {"log_dir": str(log_dir), "log_file": "tempest.log"},
        "auth": {
            "admin_username": "admin",
            "admin_password": stack.PASSWORD % "admin",
            "admin_project_name": "admin",
            "admin_domain_name": "Default",
            "use_dynamic_credentials": "true",
            "create_isolated_networks": "false",
        },
        "identity": {"uri_v3": cloud.auth_url, "auth_version": "v3",
                     "region": REGION, "v3_endpoint_type": "public"},
        "image": {
            "region": REGION,
            "endpoint_type": "public",
            "http_image": image_url,
            "http_qcow2_image": image_url,
            # An import the guard refuses never succeeds: fail in a
            # minute, not in Tempest's default five.
            "build_timeout": "60",
            "build_interval": "1",
            "hashing_algorithm": "sha512",
        },
        "image-feature-enabled": {
            "import_image": "true",
            "os_glance_reserved": "true",
            "manage_locations": "false",
            "http_store_enabled": "true",
            "do_secure_hash": "true",
            "image_conversion": "false",
            "image_format_enforcement": "true",
        },
        "service_available": {"glance": "true",
                              **{s: "false" for s in services}},
        "validation": {"run_validation": "false"},
    })


# -- results --------------------------------------------------------------

def short_id(test_id):
    """The id without Tempest's attributes (``[id-...,smoke]``)."""
    return re.sub(r"\[[^\]]*\]$", "", test_id)


STATUS = {"success": "passed", "xfail": "passed", "skip": "skipped"}


def read_subunit(path):
    """{short id: (status, text)} from a subunit v2 stream; text is the
    traceback (or a skip's reason)."""
    import subunit
    import testtools
    found = {}

    def on_test(test):
        if test["status"] in ("exists", None):
            return
        details = test["details"]
        text = "\n".join(details[k].as_text() for k in
                         ("traceback", "reason") if k in details)
        found[short_id(test["id"])] = (
            STATUS.get(test["status"], "failed"), text)

    with open(path, "rb") as stream:
        result = testtools.StreamToDict(on_test)
        result.startTestRun()
        subunit.ByteStreamToStreamResult(
            stream, non_subunit_name="stdout").run(result)
        result.stopTestRun()
    return found


CLASS_FIXTURE = re.compile(r"^(setUpClass|tearDownClass) \((.+)\)$")


def per_test(found, listed):
    """A class whose setUpClass failed or skipped ran none of its tests:
    each of them gets that outcome, so that runs compare test by test."""
    results = {k: v for k, v in found.items() if not CLASS_FIXTURE.match(k)}
    for key, (status, text) in found.items():
        match = CLASS_FIXTURE.match(key)
        if not match:
            continue
        cls = match.group(2)
        members = [t for t in listed if t.rsplit(".", 1)[0] == cls]
        if match.group(1) == "setUpClass" and members:
            for test in members:
                results.setdefault(test, (status, text))
        elif status == "failed":
            results[key] = (status, text)  # a cleanup failed: keep it
    return results


def counts(results):
    return tuple(sum(1 for s, _ in results.values() if s == status)
                 for status in ("passed", "skipped", "failed"))


def excerpt(text, lines=14, width=3000):
    """The end of a failure, where the exception and its message are."""
    kept = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join("      " + line for line in kept[-lines:])[-width:]


def read_expected(path):
    """{test id: reason} of expected-differences.txt."""
    expected = {}
    for line in path.read_text().splitlines():
        test, _, reason = line.partition("#")
        if test.strip():
            expected[test.strip()] = reason.strip()
    return expected


# -- running --------------------------------------------------------------

class Tempest:
    """A Tempest workspace in ``folder``: tempest.conf and stestr."""

    def __init__(self, folder, conf_text):
        import tempest
        self.folder = folder
        package = pathlib.Path(tempest.__file__).parent
        (folder / "etc").mkdir(parents=True, exist_ok=True)
        (folder / "etc" / "tempest.conf").write_text(conf_text)
        # Tempest's own .stestr.conf: a class's tests in one worker (their
        # class fixtures are shared).
        self.stestr = [str(harness.BIN / "stestr"), "--test-path",
                       str(package / "test_discover"), "--top-dir",
                       str(package.parent), "--group-regex",
                       r"([^\.]*\.)*"]
        self.env = {"TEMPEST_CONFIG_DIR": str(folder / "etc"),
                    "TEMPEST_CONFIG": "tempest.conf"}

    def _run(self, args, cwd, stdout):
        """stestr ``args`` in ``cwd`` (its repository: made if missing)."""
        if args != ["init"] and not (cwd / ".stestr").exists():
            self._run(["init"], cwd, subprocess.DEVNULL)
        return subprocess.run(self.stestr + args, cwd=cwd, stdout=stdout,
                              stderr=subprocess.PIPE, text=False,
                              env=dict(os.environ, **self.env))

    def list(self):
        result = self._run(["list", TESTS], self.folder, subprocess.PIPE)
        if result.returncode:
            raise RuntimeError("stestr list failed:\n%s" % (
                result.stderr.decode(errors="replace")[-3000:]))
        return sorted({short_id(t) for t in
                       result.stdout.decode().split() if t.startswith(
                           "tempest.")})

    def run(self, name, tests=TESTS):
        """Runs the tests (a regex); returns the subunit file."""
        folder = self.folder / name
        folder.mkdir()
        stream = folder / "results.subunit"
        with open(stream, "wb") as out:
            result = self._run(["run", "--concurrency", str(CONCURRENCY),
                                "--subunit", tests], folder, out)
        # stestr exits 1 when a test failed; anything else is its own.
        if result.returncode not in (0, 1) or not stream.stat().st_size:
            raise RuntimeError("stestr run failed (%d):\n%s" % (
                result.returncode,
                result.stderr.decode(errors="replace")[-3000:]))
        return stream


def only(tests):
    """A regex selecting exactly ``tests`` (short ids)."""
    return "^(%s)(\\[|$)" % "|".join(re.escape(t) for t in sorted(tests))


def server_errors(cloud, since):
    """The ERROR lines RegionOne's glance-api logged after line ``since``."""
    lines = cloud.glances[REGION].log_path.read_text(
        errors="replace").splitlines()[since:]
    return [line for line in lines if " ERROR " in line][-12:]


def rerun_server_faults(tempest, cloud, name, results, log_mark):
    """Runs once more each test of ``results`` that failed with a server
    error (a 500 from Glance), in the same configuration, and keeps the
    second outcome. A 500 is never what the guard answers, so one that
    does not happen again is a race in Glance or the stack, not a
    difference the guard makes; each is printed with glance-api's ERROR
    lines, so that a 500 the guard causes can be told apart. Seen: Glance's
    image delete reads ``os_glance_hash_op_host``, then calls
    ``task_cancellation_tracker.cancel_operation``, which raises a
    ServerError when the location's hash calculation ended in between
    (tempest's test_hash_calculation_cancelled, under load)."""
    faults = sorted(t for t, (status, text) in results.items()
                    if status == "failed" and SERVER_ERROR.search(text))
    if not faults:
        return
    errors = server_errors(cloud, log_mark)
    again = per_test(read_subunit(tempest.run(name + "-rerun", only(faults))),
                     faults)
    for test in faults:
        second = again.get(test, ("missing", ""))
        print("%s: %s failed with a server error; run again: %s" % (
            name, test, second[0]))
        print(excerpt(results[test][1], lines=6))
        results[test] = second
    print("  glance-api ERROR lines of the %s run:" % name)
    print("\n".join("    " + line[:400] for line in errors))


def guard_evidence(cloud, text):
    """Why a failure is the guard's refusal, or None: its message in the
    failure, else in an import task of an image the failure names."""
    if REFUSAL.search(text):
        return "refusal in the response"
    for image_id in dict.fromkeys(UUID.findall(text)):
        rows = cloud.glance_sql(
            REGION, "SELECT i.message FROM tasks t JOIN task_info i "
            "ON i.task_id = t.id WHERE t.image_id = %s", image_id)
        for (message,) in rows or ():
            if message and REFUSAL.search(message):
                return "refusal in task of image %s" % image_id
    return None


def compare(base, other):
    """Ids whose status differs (a test in one run only counts too)."""
    missing = ("missing", "not in this run")
    return sorted(t for t in set(base) | set(other)
                  if base.get(t, missing)[0] != other.get(t, missing)[0])


def report(title, tests, base, other, names):
    print("%s (%d):" % (title, len(tests)))
    for test in tests:
        b = base.get(test, ("missing", ""))
        o = other.get(test, ("missing", ""))
        print("  %s: %s %s, %s %s" % (test, names[0], b[0], names[1], o[0]))
        for status, text in (o, b):
            if status in ("failed", "skipped") and text.strip():
                print(excerpt(text))
                break


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="alone,exempt,guard",
                        help="configurations to run (alone is always run)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the folder (logs, tempest.conf, results)")
    args = parser.parse_args()
    wanted = ["alone"] + [c for c in args.only.split(",")
                          if c in CONFIGURATIONS and c != "alone"]
    folder = pathlib.Path(tempfile.mkdtemp(prefix="tempest-image-"))
    timings = {}
    started = time.monotonic()
    cloud = None
    try:
        with harness.FileServer(folder / "www") as www:
            image_url = www.publish(qcow2())
            cloud = stack.OpenStack(
                folder / "cloud", guard=False,
                glance_config=glance_config(folder / "stores"))
            with cloud:
                timings["stack"] = cloud.timings["total"]
                mark = time.monotonic()
                cloud.load_metadefs(REGION)
                cloud.keep_location_order(REGION)
                timings["metadefs, location order"] = time.monotonic() - mark
                tempest = Tempest(folder / "tempest",
                                  tempest_conf(cloud, image_url,
                                               folder / "tempest"))
                listed = tempest.list()
                runs = {}
                for name in wanted:
                    mark = time.monotonic()
                    cloud.restart_glance(REGION, **CONFIGURATIONS[name])
                    timings["%s restart" % name] = time.monotonic() - mark
                    mark = time.monotonic()
                    log_mark = len(cloud.glances[REGION].log_path
                                   .read_text(errors="replace").splitlines())
                    runs[name] = per_test(read_subunit(tempest.run(name)),
                                          listed)
                    rerun_server_faults(tempest, cloud, name, runs[name],
                                        log_mark)
                    timings[name] = time.monotonic() - mark
                    print("%s: %d passed, %d skipped, %d failed "
                          "in %.0f s" % ((name,) + counts(runs[name]) +
                                         (timings[name],)), flush=True)
                ok = verdict(cloud, runs)
    except Exception as e:
        if cloud is not None:
            print(cloud.log_tails(20))
        print("tempest image v2: could not run: %s" % e)
        if args.keep:
            print("folder kept: %s" % folder)
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    timings["total"] = time.monotonic() - started
    print("timings: " + ", ".join("%s %.0f s" % kv for kv in timings.items()))
    if args.keep:
        print("folder kept: %s" % folder)
    return 0 if ok else 1


def verdict(cloud, runs):
    """Prints the comparisons and the summary line; True if all hold."""
    alone = runs["alone"]
    ok = True
    parts = ["alone %d passed %d skipped %d failed" % counts(alone)]
    if "exempt" in runs:
        diff = compare(alone, runs["exempt"])
        if diff:
            ok = False
            report("exempt differs from alone", diff, alone, runs["exempt"],
                   ("alone", "exempt"))
        parts.append("exempt %d/%d/%d (%s)" % (
            counts(runs["exempt"]) +
            ("equal" if not diff else "%d differences" % len(diff),)))
    if "guard" in runs:
        guard = runs["guard"]
        expected = read_expected(EXPECTED)
        diff = compare(alone, guard)
        unexpected = [t for t in diff if t not in expected]
        stale = sorted(t for t in expected if t not in diff)
        wrong = []
        for test in (t for t in diff if t in expected):
            status, text = guard.get(test, ("missing", ""))
            if status != "failed":
                wrong.append((test, "it %s" % status))
            elif SERVER_ERROR.search(text):
                wrong.append((test, "a server error"))
            elif guard_evidence(cloud, text) is None:
                wrong.append((test, "no refusal of the guard in it"))
        if unexpected:
            report("guard differs from alone, not listed in %s" %
                   EXPECTED.name, unexpected, alone, guard,
                   ("alone", "guard"))
        if stale:
            report("listed in %s, but guard gives what alone gives "
                   "(stale)" % EXPECTED.name, stale, alone, guard,
                   ("alone", "guard"))
        for test, why in wrong:
            print("expected difference %s: not the guard's refusal (%s):"
                  % (test, why))
            print(excerpt(guard.get(test, ("", ""))[1]))
        ok = ok and not (unexpected or stale or wrong)
        parts.append("guard %d/%d/%d (%d expected differences, "
                     "%d unexpected%s%s)" % (
                         counts(guard) + (len(diff) - len(unexpected),
                                          len(unexpected)) +
                         (", %d stale" % len(stale) if stale else "",
                          ", %d not the guard's refusal" % len(wrong)
                          if wrong else "")))
    print("tempest image v2: " + "; ".join(parts))
    return ok


if __name__ == "__main__":
    sys.exit(main())
