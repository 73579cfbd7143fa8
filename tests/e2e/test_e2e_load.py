"""Load: 20 imports at once against one real glance-api (gunicorn worker
with 8 threads), half accepted, half refused, both import methods, twice.
Every image must end in its own right state with its own message, no
staged file may be left, and the glance-api worker must not grow threads
or file descriptors from one round to the next (the connections the test's
clients keep alive are theirs, not counted: harness.resources).

The images are created and staged one after the other, then all 20
imports start together (a barrier) and run concurrently. Glance runs on
PostgreSQL here: on SQLite its own task and image updates fail with
"database is locked" when 20 imports run at once (seen while writing this
test), a limit of the test database, not of the guard."""

import concurrent.futures
import hashlib
import os
import threading
import time
import uuid

import pytest

from conftest import SUMMARY
from support import harness, signing
from support.e2e import new_image

IMPORTS = 20


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    cert_dir = tmp_path_factory.mktemp("load-certs")
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, "load-signer",
                                signing.make_certificate(key))
    with harness.FileServer(tmp_path_factory.mktemp("load-http")) as files, \
            harness.PostgresServer() as postgres:
        server = harness.GlanceServer(
            tmp_path_factory.mktemp("load-glance"), certificate_dir=cert_dir,
            web_download_ports=[files.port], database_url=postgres.url)
        with server:
            yield server, files, key


def prepare(glance, files, key, n):
    """Image n, created and staged: even ones are signed and will be
    accepted; odd ones declare the digest of other data, so their refusal
    names their own digests."""
    conn = glance.client()
    data = os.urandom(256 * 1024 + n) + uuid.uuid4().bytes
    props = signing.signed_properties(key, "load-signer", data)
    if n % 2:
        props["img_hash_value"] = hashlib.sha512(
            data + b"other").hexdigest()
    method = ("glance-direct", "glance-direct", "web-download",
              "web-download")[n % 4]
    image = new_image(conn, props)
    uri = None
    if method == "glance-direct":
        conn.image.stage_image(image, data=data)
    else:
        uri = files.publish(data)
    return n, data, image.id, method, uri


def start_and_wait(glance, barrier, prepared):
    n, data, image_id, method, uri = prepared
    conn = glance.client()
    image = conn.image.get_image(image_id)
    barrier.wait()
    conn.image.import_image(image, method=method, uri=uri)
    image = harness.wait_for_import(conn, image_id)
    return n, data, image, harness.last_task(conn, image_id)


def run_round(glance, files, key):
    prepared = [prepare(glance, files, key, n) for n in range(IMPORTS)]
    barrier = threading.Barrier(IMPORTS)
    with concurrent.futures.ThreadPoolExecutor(IMPORTS) as pool:
        results = list(pool.map(
            lambda p: start_and_wait(glance, barrier, p), prepared))
    for n, data, image, task in results:
        where = "import %d (image %s)" % (n, image.id)
        assert "os_glance_import_task" not in image.properties, where
        if n % 2 == 0:
            assert image.status == "active", where
            assert image.hash_value == hashlib.sha512(data).hexdigest()
            assert task.status == "success", where
        else:
            assert image.status == "queued", where
            assert task.status == "failure", where
            # Its own id and its own data's digest, nobody else's.
            assert task.message.startswith(
                "Image %s was not imported" % image.id), where
            assert hashlib.sha512(data).hexdigest() in task.message, where
            others = [i.id for _, _, i, _ in results if i.id != image.id]
            assert not any(o in task.message for o in others), where
    return results


def test_twenty_imports_at_once(world):
    glance, files, key = world
    pid = glance.worker_pid()
    started = time.monotonic()
    run_round(glance, files, key)
    first = time.monotonic() - started
    after_first = harness.settled(pid)
    kinds_first = harness.fd_kinds(pid)
    run_round(glance, files, key)
    after_second = harness.settled(pid)
    kinds_second = harness.fd_kinds(pid)
    assert not list(glance.staging_dir.iterdir()), "staging not clean"
    threads_first, fds_first = after_first
    threads_second, fds_second = after_second
    assert threads_second <= threads_first, (after_first, after_second)
    assert fds_second <= fds_first, (kinds_first, kinds_second)
    SUMMARY.append(
        "load: 2 rounds of %d concurrent imports (%.1f s for the first); "
        "glance-api worker after each: %d/%d threads, %d/%d fds" % (
            IMPORTS, first, threads_first, threads_second, fds_first,
            fds_second))
