"""How fast is the guard's pass, against the baselines, in one run.

    make bench            # or: .venv/bin/python benches/bench.py [--quick]

Every figure is measured in this run on the same file in page cache, and
printed as a ratio to its baseline measured in this run too:

* Glance's own Python path: hashlib, 64 KiB reads, digests one after the
  other in one thread (what Glance does while writing to a store);
* the best a pure-Python plugin could do: each digest in its own Python
  thread with hashlib (which releases the GIL), 1 MiB reads;
* ``openssl speed -evp ALG -bytes 65536``, one core.

Then the peak RSS growth of the guard's pass on a 1 GiB and a 4 GiB file,
a real glance-direct import of a 1 GiB image with and without the guard
(tests/support/harness.py), and glance-import-guard audit on a file store
and on RBD (audit_rbd.py). Absolute MB/s are noisy on shared machines (up
to 30%); each timing is the best of --repeat runs, and only ratios from one run
should be compared.
"""

import argparse
import hashlib
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import audit_rbd  # noqa: E402
from measure import GiB, MiB, audit, best, cpu_seconds, mbps, vm  # noqa: E402

import glance_import_guard as guard  # noqa: E402

CASES = [
    ("md5+sha512", ["md5", "sha512"]),
    ("md5+sha512+sha256", ["md5", "sha512", "sha256"]),
    ("sha512", ["sha512"]),
    ("sha256", ["sha256"]),
    ("blake3", ["blake3"]),
]


def make_file(path, size):
    block = os.urandom(16 * MiB)
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
    with open(path, "rb") as f:  # into page cache
        while f.read(16 * MiB):
            pass




def glance_python_path(path, names):
    """Glance's way: one thread, 64 KiB reads, each digest in turn."""
    digests = [hashlib.new(n) for n in names]
    with open(path, "rb") as f:
        while chunk := f.read(64 * 1024):
            for d in digests:
                d.update(chunk)
    return [d.hexdigest() for d in digests]


def python_threads(path, names):
    """The strongest pure-Python peer: a thread per digest, 1 MiB reads."""
    def one(name):
        d = hashlib.new(name)
        with open(path, "rb") as f:
            while chunk := f.read(MiB):
                d.update(chunk)
    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def openssl_speed(name, seconds):
    """Bytes/s of `openssl speed -evp NAME` at 64 KiB blocks (one core)."""
    out = subprocess.run(
        ["openssl", "speed", "-evp", name, "-bytes", "65536",
         "-seconds", str(seconds)],
        capture_output=True, text=True, check=True).stdout
    line = out.strip().splitlines()[-1]
    return float(re.findall(r"([\d.]+)k", line)[-1]) * 1000


def rss_growth(path, names):
    """Peak RSS growth (bytes) of one guard pass, in a fresh process: the
    kernel's high-water mark is reset (clear_refs 5) just before the pass
    and compared with the resident size just before it."""
    code = (
        "import sys, glance_import_guard as g\n"
        "def status(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key + ':'):\n"
        "            return int(line.split()[1]) * 1024\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "before = status('VmRSS')\n"
        "g.hash_file(sys.argv[1], sys.argv[2].split(','))\n"
        "print(status('VmHWM') - before)\n")
    out = subprocess.run([sys.executable, "-c", code, str(path),
                          ",".join(names)],
                         capture_output=True, text=True, check=True).stdout
    return int(out)




def hashing(path, size, repeat, seconds):
    print("\n== Hashing a %d MiB file in page cache (best of %d) ==" % (
        size // MiB, repeat))
    speeds = {n: openssl_speed(n, seconds)
              for n in ("md5", "sha512", "sha256")}
    header = ("%-18s %9s %9s %9s %9s %8s %8s %8s" % (
        "digests", "guard", "glance", "py-thr", "openssl", "vs glance",
        "vs py-thr", "vs ossl"))
    print(header)
    print("%-18s %9s %9s %9s %9s" % ("", "MB/s", "MB/s", "MB/s", "MB/s"))
    results = {}
    for label, names in CASES:
        t_guard = best(repeat, lambda n=names: guard.hash_file(path, n))
        if "blake3" in names:
            t_glance = t_threads = None
            ossl = None
        else:
            t_glance = best(repeat,
                            lambda n=names: glance_python_path(path, n))
            t_threads = best(repeat,
                             lambda n=names: python_threads(path, n))
            # One core of openssl doing these digests one after the other.
            ossl = 1 / sum(1 / speeds[n] for n in names) / 1e6
        results[label] = t_guard
        row = [mbps(size, t_guard)]
        row += [mbps(size, t) if t else None for t in (t_glance, t_threads)]
        row.append(ossl)
        ratios = [t_glance / t_guard if t_glance else None,
                  t_threads / t_guard if t_threads else None,
                  row[0] / ossl if ossl else None]
        print("%-18s %s %s" % (
            label,
            " ".join("%9.0f" % v if v else "%9s" % "-" for v in row),
            " ".join("%8.2fx" % r if r else "%9s" % "-" for r in ratios)))
    print("blake3 / sha512 (guard): %.1fx" % (
        results["sha512"] / results["blake3"]))

    # The guard's pass with default settings for a signed image with a
    # declared digest: declared sha512 + the signature's SHA-256 (Glance's
    # default hashing_algorithm, sha512, is the same digest), against
    # Glance's own md5+sha512 pass over the same file.
    the_guard = guard.Guard(default_policy())
    verdict = the_guard.check_properties(
        {"img_hash_algo": "sha512", "img_hash_value": "0" * 128,
         "img_signature": "c2ln", "img_signature_hash_method": "SHA-256",
         "img_signature_key_type": "RSA-PSS",
         "img_signature_certificate_uuid": "bench"}, exempt=False)
    plan = verdict["plan"]
    t_pass = best(repeat, lambda: the_guard.check_file(path, plan))
    t_glance = best(repeat,
                    lambda: glance_python_path(path, ["md5", "sha512"]))
    print("guard pass, defaults (%s): %.0f MB/s, %.2fx the time of "
          "Glance's own md5+sha512 hashing (%.0f MB/s)" % (
              "+".join(plan["algorithms"]), mbps(size, t_pass),
              t_pass / t_glance, mbps(size, t_glance)))


def default_policy():
    from oslo_config import cfg

    from glance_import_guard import opts
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf([])
    policy = opts.policy(conf)
    policy["also_compute"] = ["sha512"]  # Glance's default hashing_algorithm
    return policy


def memory(workdir, sizes):
    print("\n== Peak RSS growth of one guard pass (md5+sha512+sha256) ==")
    for size in sizes:
        path = workdir / ("rss-%d" % size)
        make_file(path, size)
        growth = rss_growth(path, ["md5", "sha512", "sha256"])
        print("%5d MiB file: %6.1f MiB" % (size // MiB, growth / MiB))
        path.unlink()


def glance_import(workdir, size, repeat=3):
    """A real glance-direct stage and import of a signed image, in three
    glance-api side by side (uploads alternate, as in glance_upload): no
    guard; the guard's plugin alone (it reads the staged file again); the
    plugin and the filter (the filter hashes the stage, the plugin uses
    that record). Times: the stage (PUT /stage to 204) and the import
    (POST import to active, polled every 20 ms)."""
    import statistics

    from support import harness, signing
    print("\n== Real glance-direct stage + import of a %d MiB image ==" % (
        size // MiB))
    data = os.urandom(16 * MiB) * (size // (16 * MiB))
    cert_dir = workdir / "certs"
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, "bench",
                                signing.make_certificate(key))
    props = signing.signed_properties(key, "bench", data)
    setups = {"no guard": ([], False),
              "plugin, rereads": (["import_guard"], False),
              "plugin + filter": (["import_guard"], True)}
    servers = {label: harness.GlanceServer(
        workdir / ("import-%d" % n), plugins=plugins,
        certificate_dir=cert_dir, upload_filter=upload_filter)
        for n, (label, (plugins, upload_filter)) in enumerate(setups.items())}
    times = {label: {"stage": [], "import": [], "both": []}
             for label in setups}
    stage_cpu = {label: [] for label in setups}
    growth = dict.fromkeys(setups, 0)
    for server in servers.values():
        server.start()
    try:
        for _ in range(repeat):
            for label, server in servers.items():
                conn = server.client()
                pid = server.worker_pid()
                image = conn.image.create_image(
                    name="bench-%s" % uuid.uuid4(), disk_format="raw",
                    container_format="bare", **props)
                before = vm(pid, "VmRSS")
                cpu = cpu_seconds(pid)
                t0 = time.perf_counter()
                conn.image.stage_image(image, data=data)
                t1 = time.perf_counter()
                stage_cpu[label].append(cpu_seconds(pid) - cpu)
                conn.image.import_image(image, method="glance-direct")
                while True:
                    done = conn.image.get_image(image.id)
                    if done.status == "active" and "os_glance_import_task" \
                            not in (done.properties or {}):
                        break
                    assert done.status in ("importing", "uploading",
                                           "active"), done
                    time.sleep(0.02)
                t2 = time.perf_counter()
                growth[label] = max(growth[label], vm(pid, "VmHWM") - before)
                for what, took in (("stage", t1 - t0), ("import", t2 - t1),
                                   ("both", t2 - t0)):
                    times[label][what].append(took)
                conn.image.delete_image(image)
    finally:
        for server in servers.values():
            server.stop()
    for label in setups:
        print("%-16s stage %s, import %s, both %s; worker peak RSS +%.0f "
              "MiB" % (label, *("%.2f s" % min(times[label][w])
                                for w in ("stage", "import", "both")),
                       growth[label] / MiB))

    def ratio(label, what):
        best = min(times[label][what]) / min(times["no guard"][what])
        median = (statistics.median(times[label][what])
                  / statistics.median(times["no guard"][what]))
        return "best %.2fx, median %.2fx" % (best, median)

    print("plugin + filter vs no guard: stage + import %s (target <= "
          "1.03x)" % ratio("plugin + filter", "both"))
    print("plugin + filter vs no guard: import alone %s (target <= 1.05x)"
          % ratio("plugin + filter", "import"))
    print("plugin + filter vs no guard: stage alone %s (target <= 1.05x)"
          % ratio("plugin + filter", "stage"))
    print("plugin alone (rereads) vs no guard: import alone %s" % ratio(
        "plugin, rereads", "import"))
    print("(%d stages and imports each, best of them and median)" % repeat)
    # Why the stage costs what it costs: CPU, not waiting.
    staged = workdir / "staged-copy"
    staged.write_bytes(data)
    algorithms = ["sha256", "sha512"]  # the signature's and the declared
    cpu = time.process_time()
    guard.hash_file(staged, algorithms)
    digest_cpu = time.process_time() - cpu
    staged.unlink()
    print("stage CPU of the glance-api worker (median): no guard %.2f s, "
          "plugin + filter %.2f s; the filter's digests (%s) alone: %.2f s "
          "CPU (hash_file); cores: %d" % (
              statistics.median(stage_cpu["no guard"]),
              statistics.median(stage_cpu["plugin + filter"]),
              "+".join(algorithms), digest_cpu, os.cpu_count()))






def glance_upload(workdir, sizes, repeat):
    """PUT /file of a signed image through glance-api with and without the
    guard's filter in its pipeline: the time to 204, and how far the
    worker's peak RSS rises above its RSS before the upload. Both servers
    run side by side and the uploads alternate between them, so that the
    host's own drift (a shared VM's speed varies by 20% from minute to
    minute) falls on both alike; the best and the median of the repeats
    are printed. BENCH_HASH_THREADS sets the filter's [import_guard]
    hash_threads."""
    import statistics

    from support import harness, signing
    print("\n== Real upload (PUT /file) with and without the filter ==")
    cert_dir = workdir / "upload-certs"
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, "bench",
                                signing.make_certificate(key))
    labels = ("without filter", "with filter")
    servers = {label: harness.GlanceServer(
        workdir / ("upload-%s" % upload_filter), plugins=[],
        certificate_dir=cert_dir, upload_filter=upload_filter,
        import_guard={"hash_threads": os.environ.get("BENCH_HASH_THREADS",
                                                     "0")})
        for label, upload_filter in zip(labels, (False, True))}
    for server in servers.values():
        server.start()
    try:
        for size in sizes:
            data = os.urandom(16 * MiB) * (size // (16 * MiB))
            props = signing.signed_properties(key, "bench", data)
            times = {label: [] for label in labels}
            growth = dict.fromkeys(labels, 0)
            for _ in range(repeat):
                for label in labels:
                    server = servers[label]
                    pid = server.worker_pid()
                    conn = server.client()
                    image = conn.image.create_image(
                        name="bench-%s" % uuid.uuid4(), disk_format="raw",
                        container_format="bare", **props)
                    before = vm(pid, "VmRSS")
                    t = time.perf_counter()
                    response = conn.session.put(
                        server.url + "/v2/images/%s/file" % image.id,
                        data=data, raise_exc=False, headers={
                            "Content-Type": "application/octet-stream"})
                    times[label].append(time.perf_counter() - t)
                    assert response.status_code == 204, response.text
                    growth[label] = max(growth[label],
                                        vm(pid, "VmHWM") - before)
                    conn.image.delete_image(image)
            for label in labels:
                best = min(times[label])
                print("%4d MiB %-15s best %.2f s (%.0f MB/s), median "
                      "%.2f s, worker peak RSS +%.0f MiB" % (
                          size // MiB, label, best, mbps(size, best),
                          statistics.median(times[label]),
                          growth[label] / MiB))
            ratio = [min(times[labels[1]]) / min(times[labels[0]]),
                     statistics.median(times[labels[1]])
                     / statistics.median(times[labels[0]])]
            print("%4d MiB with / without filter: best %.2fx, median %.2fx "
                  "(target <= 1.10x), %d uploads each" % (
                      size // MiB, ratio[0], ratio[1], repeat))
    finally:
        for server in servers.values():
            server.stop()


def audit_bench(workdir, image_size, count, repeat=1):
    """glance-import-guard audit of ``count`` signed images of
    ``image_size`` in a real glance-api's file store (page cache), as
    aggregate MB/s against the core's hash_file of one image for the same
    digests (sha512, md5, sha256) in this run; and the audit's peak RSS for
    one image and for all of them."""
    from support import harness, signing
    print("\n== glance-import-guard audit: %d images of %d MiB ==" % (
        count, image_size // MiB))
    cert_dir = workdir / "audit-certs"
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, "bench",
                                signing.make_certificate(key))
    server = harness.GlanceServer(workdir / "audit", plugins=[],
                                  certificate_dir=cert_dir)
    with server:
        conn = server.client()
        ids = []
        for n in range(count):
            data = os.urandom(16 * MiB) * (image_size // (16 * MiB))
            data = bytes([n]) + data[1:]
            image = conn.image.create_image(
                name="audit-%d" % n, disk_format="raw",
                container_format="bare",
                **signing.signed_properties(key, "bench", data))
            response = conn.session.put(
                server.url + "/v2/images/%s/file" % image.id, data=data,
                headers={"Content-Type": "application/octet-stream"})
            assert response.status_code == 204, response.text
            ids.append(image.id)
        del data
        one = server.store_dir / ids[0]
        algorithms = ["sha512", "md5", "sha256"]
        base = best(repeat, lambda: guard.hash_file(one, algorithms))
        base_mbps = mbps(image_size, base)
        print("core hash_file of one image (sha512+md5+sha256): %.0f MB/s"
              % base_mbps)

        def run(*args):
            return audit(server.workdir, *args)

        _, reading_one, rss_one, _ = run("--image", ids[0])
        rate = mbps(image_size, reading_one)
        print("audit of one image: %.0f MB/s while reading, %.2fx "
              "hash_file (target >= 0.9x)" % (rate, rate / base_mbps))

        for parallel in (1, 2):
            elapsed, reading, rss, _ = run("--parallel", str(parallel))
            rate = mbps(image_size * count, reading)
            print("audit --parallel %d: %.0f MB/s aggregate while reading "
                  "(%.1f s; %.1f s with its start), %.2fx hash_file "
                  "(target >= 0.9x), peak RSS %.0f MiB (one image: %.0f "
                  "MiB)" % (parallel, rate, reading, elapsed,
                            rate / base_mbps, rss / MiB, rss_one / MiB))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="256 MiB files, one repeat, no 4 GiB file")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--only-upload", action="store_true",
                        help="just the PUT /file upload with and without "
                             "the filter")
    parser.add_argument("--only-import", action="store_true",
                        help="just the glance-direct stage and import")
    parser.add_argument("--only-audit", action="store_true",
                        help="just glance-import-guard audit")
    parser.add_argument("--only-audit-rbd", action="store_true",
                        help="just glance-import-guard audit on RBD "
                             "(make ceph-deps)")
    args = parser.parse_args()
    size = 256 * MiB if args.quick else GiB
    repeat = 1 if args.quick else args.repeat
    print("cores: %d; %s" % (os.cpu_count(), subprocess.run(
        ["openssl", "version"], capture_output=True, text=True
    ).stdout.strip()))
    with tempfile.TemporaryDirectory(prefix="guard-bench-") as d:
        workdir = pathlib.Path(d)
        upload_sizes = [256 * MiB] if args.quick else [256 * MiB, GiB]
        if args.only_upload:
            glance_upload(workdir, upload_sizes, repeat)
            return
        if args.only_import:
            glance_import(workdir, size, repeat)
            return
        if args.only_audit:
            audit_bench(workdir, size // 4, 16)
            return
        if args.only_audit_rbd:
            audit_rbd.main(workdir, size, repeat=repeat)
            return
        path = workdir / "image"
        make_file(path, size)
        hashing(path, size, repeat, 1 if args.quick else 3)
        path.unlink()
        memory(workdir, [size] if args.quick else [GiB, 4 * GiB])
        if not args.skip_import:
            glance_import(workdir, size, repeat)
            glance_upload(workdir, upload_sizes, repeat)
            audit_bench(workdir, size // 4, 16)
            audit_rbd.main(workdir, size, repeat=repeat)


if __name__ == "__main__":
    main()
