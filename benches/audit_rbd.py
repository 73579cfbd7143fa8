"""``glance-import-guard audit`` on Glance's rbd store, against what Ceph's
own tools do with the same snapshots, in one run.

    .venv/bin/python benches/bench.py --only-audit-rbd   # make ceph-deps first

* One 1 GiB image: the audit's reading time against ``rbd export
  images/ID@snap - | sha512sum`` of the same snapshot (alternating, best
  of ``repeat``), and the audit's peak RSS.
* ``count`` smaller images: the audit's aggregate read rate with
  ``--parallel`` 1, 2 and 4 against the store's own aggregate read rate
  (``rbd export ... > /dev/null`` of every snapshot at once) and against
  the core's ``hash_file`` of the same digests from page cache, the
  ceiling of the hashing on this machine's cores.

The cluster is tests/support/ceph.py's (one mon, mgr and OSD on a sparse
file, on this machine: the OSD shares the cores with the audit) and
glance-api runs with glance_store's rbd driver on its defaults (8 MiB
reads), as operators run it.
"""

import os
import subprocess
import tempfile
import time

from measure import GiB, MiB, audit, best, cpu_seconds, mbps

import glance_import_guard as guard

DIGESTS = ["sha512", "md5", "sha256"]  # os_hash_algo, checksum, signature


def rbd_glance(folder, cluster, certificate_dir):
    from support import harness
    return harness.GlanceServer(
        folder, plugins=[], certificate_dir=certificate_dir,
        extra_config={
            "DEFAULT": {"enabled_backends": "%s:rbd" % harness.STORE},
            harness.STORE: {"rbd_store_pool": "images",
                            "rbd_store_ceph_conf": str(cluster.conf),
                            "rbd_store_user": "admin"}})


def signed_upload(glance, signer, data, name):
    conn = glance.client()
    image = conn.image.create_image(
        name=name, disk_format="raw", container_format="bare",
        **signer.properties(data))
    response = conn.session.put(
        glance.url + "/v2/images/%s/file" % image.id, data=data,
        headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 204, response.text
    return image.id


def export(cluster, image_ids, sink):
    """Seconds for ``rbd export images/ID@snap - | SINK`` of every image
    at once."""
    started = time.perf_counter()
    children = [subprocess.Popen(
        "rbd -c %s export --no-progress images/%s@snap - | %s" % (
            cluster.conf, image_id, sink), shell=True, cwd=cluster.folder,
        stdout=subprocess.DEVNULL) for image_id in image_ids]
    for child in children:
        assert child.wait() == 0
    return time.perf_counter() - started


def main(workdir, size=GiB, small=128 * MiB, count=8, repeat=3):
    from support import ceph, stores
    print("\n== glance-import-guard audit on RBD: one %d MiB image, then "
          "%d of %d MiB ==" % (size // MiB, count, small // MiB))
    try:
        cluster = ceph.Ceph(workdir / "ceph", osd_size=size + count * small
                            + 8 * GiB).start()
    except ceph.CephMissing as e:
        print("skipped: %s (make ceph-deps)" % e)
        return
    try:
        signer = stores.Signer(workdir / "rbd-certs", "bench")
        with rbd_glance(workdir / "glance-rbd", cluster,
                        signer.folder) as glance:
            run(cluster, glance, signer, workdir, size, small, count,
                repeat)
    finally:
        cluster.stop()


def run(cluster, glance, signer, workdir, size, small, count, repeat):
    data = os.urandom(16 * MiB) * (size // (16 * MiB))
    big = signed_upload(glance, signer, data, "audit-rbd-big")
    with tempfile.NamedTemporaryFile(dir=workdir) as f:
        f.write(data[:small])
        f.flush()
        base = best(repeat, lambda: guard.hash_file(f.name, DIGESTS))
    ids = []
    for n in range(count):
        ids.append(signed_upload(glance, signer, bytes([n]) + data[1:small],
                                 "audit-rbd-%d" % n))
    del data

    # Everything but the reading: imports, configuration, the database,
    # the stores made (rbd's bindings loaded), no connection, no pass.
    idle = audit(glance.workdir, "--image", "no-such-image",
                 verdicts=("unreadable",))
    exports, reads, rss = [], [], []
    for _ in range(repeat):  # alternating, so both see the same machine
        exports.append(export(cluster, [big], "sha512sum"))
        one = audit(glance.workdir, "--image", big)
        reads.append(one.reading)
        rss.append(one.peak)
    rate_export = mbps(size, min(exports))
    rate_audit = mbps(size, min(reads))
    print("rbd export | sha512sum of the %d MiB snapshot: %.0f MB/s "
          "(best of %d: %.2f s)" % (size // MiB, rate_export, repeat,
                                     min(exports)))
    print("audit of that snapshot (%s): %.0f MB/s while reading, %.2fx "
          "rbd export | sha512sum (target >= 0.9x)" % (
              "+".join(DIGESTS), rate_audit, rate_audit / rate_export))
    print("audit peak RSS: %.0f MiB reading it; %.0f MiB for an audit "
          "that reads nothing (Python, Glance's DB API, glance_store and "
          "the rbd bindings), so reading adds %.0f MiB" % (
              max(rss) / MiB, idle.peak / MiB, (max(rss) - idle.peak) / MiB))

    store = mbps(small * count, best(repeat, lambda: export(
        cluster, ids, "cat > /dev/null")))
    hashing = mbps(small, base)
    print("store: %d rbd exports at once to /dev/null: %.0f MB/s "
          "aggregate; core hash_file (%s, page cache): %.0f MB/s" % (
              count, store, "+".join(DIGESTS), hashing))
    args = [a for i in ids for a in ("--image", i)]
    osd = cluster.processes["osd.0"].pid
    for parallel in (1, 2, 4):
        osd_cpu = cpu_seconds(osd)
        run = audit(glance.workdir, "--parallel", str(parallel), *args)
        osd_cpu = cpu_seconds(osd) - osd_cpu
        rate = mbps(small * count, run.reading)
        # The CPU of the reading: the audit's, less what an audit that
        # reads nothing takes to start, and the OSD's.
        busy = (run.cpu - idle.cpu + osd_cpu) / (run.reading
                                                 * os.cpu_count())
        print("audit --parallel %d of the %d: %.0f MB/s aggregate while "
              "reading, %.2fx the store's, %.2fx hash_file; peak RSS %.0f "
              "MiB; the cores %.0f%% busy while it read (CPU: audit %.1f s "
              "less %.1f s to start, ceph-osd %.1f s, in %.1f s)" % (
                  parallel, count, rate, rate / store, rate / hashing,
                  run.peak / MiB, 100 * busy, run.cpu, idle.cpu, osd_cpu,
                  run.reading))
