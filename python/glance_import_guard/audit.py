"""``glance-import-guard audit``: do the bytes in the stores still match?

Runs where glance-api runs, with its configuration. For each active image
(all, a project's, or the ones named) and each of its locations, it reads
the data once through ``glance_store`` (the drivers and credentials
glance-api uses) and the core's pass computes, in that one read, the
image's ``os_hash_algo``, the legacy md5 ``checksum`` and the signature's
hash. The signature is verified with the guard's policy and key manager,
as at import. It never changes an image or a store.

Image records come from Glance's database through Glance's own DB API
(``glance.db.ImageRepo`` with an admin context), not the Images API: it
needs no credentials beyond glance-api.conf, sees every project's images
and every location whatever ``show_multiple_locations`` says, and reads
nothing but the database it is pointed at.

Certificates are read with the operator's credentials (castellan's
``[key_manager]`` credential options), each once per run; one that cannot
be read is ``certificate-unavailable``, not ``signature-bad``
(``audit_keys.py``).

Verdicts, the first that applies (an operator acts on the data finding
before the signature one): ``unreadable``, ``size-mismatch``, ``mismatch``,
``no-hash``, ``signature-bad``, ``certificate-unavailable``, ``unsigned``,
``ok``.
"""

import concurrent.futures
import json
import logging
import os
import sys
import threading
import time

from oslo_config import cfg

from glance_import_guard import (
    _core,
    audit_keys,
    audit_rbd,
    config_args,
    decision,
    opts,
)

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

VERDICTS = ("unreadable", "size-mismatch", "mismatch", "no-hash",
            "signature-bad", "certificate-unavailable", "unsigned", "ok")
FAILING = ("mismatch", "signature-bad", "size-mismatch")
EXIT_OK, EXIT_FOUND, EXIT_USAGE = 0, 1, 2
SIGNATURE_CODES = {
    "missing-signature-property", "unknown-signature-hash-method",
    "unknown-signature-key-type", "disallowed-signature-key-type",
    "bad-signature-encoding", "empty-signature", "bad-certificate-id"}


class ConfigError(Exception):
    """The configuration cannot be used: printed, exit status 2."""


def load(oslo_args=()):
    """Glance's configuration as glance-api reads it, its stores, and an
    admin context. ``oslo_args``: oslo.config's ``--config-file`` and
    ``--config-dir`` arguments; none: the files and folders glance-api
    reads (``config_args``). NOTE: glance-api creates its stores as
    glance/common/wsgi_app.py does; the audit does the same."""
    # Glance's modules register their options (some on the command line)
    # when imported: all of them before the configuration is parsed.
    import glance.common.config  # noqa: F401
    import glance.db  # noqa: F401
    import glance_store
    from glance import context

    try:
        config_args.parse(CONF, oslo_args)
    except cfg.Error as e:
        raise ConfigError("cannot read glance-api's configuration: %s" % e
                          ) from e
    opts.register(CONF)
    reserved = {"os_glance_staging_store": "file",
                "os_glance_tasks_store": "file"}
    if CONF.enabled_backends:
        glance_store.register_store_opts(CONF, reserved_stores=reserved)
        glance_store.create_multi_stores(CONF, reserved_stores=reserved)
    else:
        glance_store.register_opts(CONF)
        glance_store.create_stores(CONF)
    return context.get_admin_context()


def images(admin, project=None, ids=()):
    """The images to audit: those named, or every active one (of
    ``project``), oldest first, a page at a time."""
    import glance.db
    from glance.common import exception
    repo = glance.db.ImageRepo(admin, glance.db.get_api())
    if ids:
        for image_id in ids:
            try:
                yield repo.get(image_id)
            except exception.NotFound:
                yield image_id  # reported as unreadable
        return
    filters = {"status": "active"}
    if project:
        filters["owner"] = project
    marker = None
    while True:
        page = repo.list(marker=marker, limit=100, filters=filters,
                         sort_key=["created_at"], sort_dir=["asc"])
        if not page:
            return
        yield from page
        marker = page[-1].image_id


def _read(admin, location, stream, connections=None):
    """Feeds the location's data to ``stream`` through glance_store, in
    the driver's own chunks (rbd: ``connections``, audit_rbd.py). NOTE:
    glance_store's ``chunk_size`` argument is the length of a partial
    read, not a chunk size (glance_store/_drivers/filesystem.py, get)."""
    import glance_store
    url = location["url"]
    store = (location.get("metadata") or {}).get("store")
    multi = bool(CONF.enabled_backends)
    data = None
    if connections is not None and (store or not multi):
        data = connections.reader(url, store if multi else None)
    if data is None:
        data, _ = (glance_store.get(url, store, context=admin) if multi
                   else glance_store.get_from_backend(url, context=admin))
    try:
        for chunk in data:
            stream.update(chunk)
    finally:
        close = getattr(data, "close", None)
        if close:
            close()
    return stream.finish()


def audit_location(admin, guard, keys, image, index, location,
                   progress=None, connections=None):
    """The row of one location of ``image``: every finding, the verdict
    (the first finding in VERDICTS' order), and what was computed.
    ``keys``: the audit's audit_keys.Certificates; ``connections``: the
    run's audit_rbd.Connections."""
    props = decision.properties_of(image.extra_properties)
    row = {"image": image.image_id, "project": image.owner,
           "store": (location.get("metadata") or {}).get("store")
           or "default", "location": index, "size": image.size,
           "findings": [], "messages": []}
    verdict = guard.check_properties(props, exempt=False)
    plan = verdict["plan"]
    sig = plan["signature"]
    algorithms = {sig["hash"]} if sig else set()
    algo = (image.os_hash_algo or "").lower()
    if image.os_hash_value and algo:
        if algo not in _core.algorithms():
            return _found(row, "unreadable", "os_hash_algo %r is not one "
                          "the guard computes" % algo)
        algorithms.add(algo)
    if image.checksum:
        algorithms.add("md5")
    group = CONF.import_guard
    stream = guard.stream({"algorithms": sorted(algorithms),
                           "declared": None, "signature": None},
                          chunk_size=group.hash_chunk_size,
                          threads=group.hash_threads)
    started = time.monotonic()
    try:
        result = _read(admin, location, _Counted(stream, progress),
                       connections)
    except Exception as e:
        LOG.debug("audit: image %s location %d", image.image_id, index,
                  exc_info=True)
        return _found(row, "unreadable", "%s: %s" % (type(e).__name__, e))
    digests = result["digests"]
    row["bytes"] = result["bytes"]
    row["seconds"] = round(time.monotonic() - started, 3)
    if image.size is not None and result["bytes"] != image.size:
        _found(row, "size-mismatch", "the store has %d bytes, the image "
               "record says %d" % (result["bytes"], image.size))
    if image.os_hash_value and digests.get(algo) != \
            image.os_hash_value.lower():
        _found(row, "mismatch", "its %s digest is %s, not os_hash_value %s"
               % (algo, digests.get(algo), image.os_hash_value))
    if image.checksum and digests.get("md5") != image.checksum.lower():
        _found(row, "mismatch", "its md5 digest is %s, not checksum %s" % (
            digests.get("md5"), image.checksum))
    if not image.os_hash_value:
        _found(row, "no-hash", "the image has no os_hash_value (as Nova "
               "snapshots in a shared store, OSSN-0090)")
    if sig:
        for finding, message in keys.verify(
                guard, sig, digests[sig["hash"]],
                group.trusted_certificate_ids):
            _found(row, finding, message)
    elif not any(name in props for name in _core.SIGNATURE_PROPERTIES):
        _found(row, "unsigned", "no img_signature* property")
    else:
        for p in verdict["problems"]:
            if p["code"] in SIGNATURE_CODES:
                _found(row, "signature-bad", p["message"])
    return _verdict(row)


def _found(row, finding, message):
    if finding not in row["findings"]:
        row["findings"].append(finding)
    row["messages"].append("%s: %s" % (finding, message))
    return _verdict(row)


def _verdict(row):
    row["verdict"] = next((v for v in VERDICTS if v in row["findings"]),
                          "ok")
    return row


class _Counted:
    """A stream that tells the progress how many bytes went through."""

    def __init__(self, stream, progress):
        self.stream = stream
        self.progress = progress

    def update(self, chunk):
        self.stream.update(chunk)
        if self.progress:
            self.progress.add(len(chunk))

    def finish(self):
        return self.stream.finish()


class Progress:
    """A progress line on a terminal (bytes/s, ETA), log lines
    otherwise."""

    def __init__(self, total_bytes, total_rows, out=sys.stderr):
        self.total, self.rows = total_bytes, total_rows
        self.done = self.done_rows = 0
        self.out = out
        self.tty = out.isatty()
        self.started = time.monotonic()
        self.lock = threading.Lock()
        self.shown = 0.0

    def add(self, n):
        with self.lock:
            self.done += n
            now = time.monotonic()
            if self.tty and now - self.shown > 0.2:
                self.shown = now
                self.out.write("\r" + self.line() + "\x1b[K")
                self.out.flush()

    def row(self, row):
        with self.lock:
            self.done_rows += 1
            if self.tty:
                self.out.write("\r" + self.line() + "\x1b[K")
                self.out.flush()
            else:
                LOG.info("audit %d/%d: image %s (%s, location %s): %s",
                         self.done_rows, self.rows, row["image"],
                         row.get("store"), row.get("location"),
                         row["verdict"])

    def line(self):
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        left = (self.total - self.done) / rate if rate else 0
        return "audited %d/%d, %.1f of %.1f MiB, %.0f MB/s, ETA %ds" % (
            self.done_rows, self.rows, self.done / 2**20,
            self.total / 2**20, rate / 1e6, max(left, 0))

    def end(self):
        if self.tty:
            self.out.write("\r" + self.line() + "\x1b[K\n")


def run(oslo_args=(), project=None, ids=(), fmt="table", resume=None,
        parallel=2, out=sys.stdout):
    """The audit; returns the exit status. ``fmt``: ``table``, ``json``
    (one array of rows) or ``json-lines`` (one row per line, as in the
    ``resume`` file)."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(message)s")
    admin = load(oslo_args)
    guard = opts.guard(CONF)
    try:
        keys = audit_keys.Certificates(CONF, admin)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    done = _resumed(resume)
    rows = [r for r in done.values()]
    work = []
    for image in images(admin, project, ids):
        if isinstance(image, str):
            rows.append(_verdict({"image": image, "store": None,
                                  "location": None, "findings":
                                  ["unreadable"], "messages":
                                  ["unreadable: no such image"]}))
            continue
        locations = image.locations or [{"url": "", "metadata": {}}]
        for index, location in enumerate(locations):
            if (image.image_id, index) not in done:
                work.append((image, index, location))
    progress = Progress(sum(i.size or 0 for i, _, _ in work), len(work))
    started = time.monotonic()
    log = open(resume, "a") if resume else None
    connections = audit_rbd.Connections(CONF.import_guard.hash_chunk_size)
    try:
        with connections, \
                concurrent.futures.ThreadPoolExecutor(parallel) as pool:
            futures = [pool.submit(audit_location, admin, guard, keys, *w,
                                   progress, connections) for w in work]
            for future in concurrent.futures.as_completed(futures):
                row = future.result()
                rows.append(row)
                progress.row(row)
                if log:
                    log.write(json.dumps(row) + "\n")
                    log.flush()
    finally:
        progress.end()
        if log:
            log.close()
    elapsed = time.monotonic() - started
    LOG.info("audit: %d locations, %d bytes read in %.2f s (%.0f MB/s)",
             len(work), progress.done, elapsed,
             progress.done / max(elapsed, 1e-6) / 1e6)
    rows.sort(key=lambda r: (VERDICTS.index(r["verdict"]), r["image"],
                             r.get("location") or 0))
    _print(rows, fmt, out)
    return EXIT_FOUND if any(r["verdict"] in FAILING for r in rows) \
        else EXIT_OK


def _resumed(path):
    """{(image, location): row} of a run that was stopped."""
    done = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    row = json.loads(line)
                    done[(row["image"], row["location"])] = row
                except (ValueError, KeyError):
                    continue  # a line cut short when the run stopped
    return done


def _print(rows, fmt, out):
    if fmt == "json":
        out.write(json.dumps(rows, indent=2) + "\n")
        return
    if fmt == "json-lines":
        for row in rows:
            out.write(json.dumps(row) + "\n")
        return
    # The verdict column is as wide as the longest verdict shown.
    line = "%%-36s  %%-10s  %%-3s  %%-%ds  %%s\n" % max(
        [13] + [len(row["verdict"]) for row in rows])
    out.write(line % ("image", "store", "loc", "verdict", "why"))
    for row in rows:
        out.write(line % (
            row["image"], row.get("store") or "-",
            "-" if row.get("location") is None else row["location"],
            row["verdict"], "; ".join(row["messages"]) or "-"))
