"""Load on the upload door: 20 uploads at once through the guard's filter
(half accepted, half refused at the end of their body), twice, and two
uploads racing on one image, against one real glance-api worker under
gunicorn and under uWSGI. Every image must end in its own right state,
nothing refused may stay in the store, and the worker must not grow
threads or file descriptors from one round to the next. Glance runs on
PostgreSQL, as in the import load test (SQLite locks under such load)."""

import concurrent.futures
import hashlib
import os
import threading

import pytest

from conftest import SUMMARY
from support import harness, signing
from support.e2e import new_image
from support.signing import tampered

UPLOADS = 20
HEADERS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module", params=["gunicorn", "uwsgi"])
def world(request, tmp_path_factory):
    cert_dir = tmp_path_factory.mktemp("upload-load-certs")
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, "load-signer",
                                signing.make_certificate(key))
    with harness.PostgresServer() as postgres:
        server = harness.GlanceServer(
            tmp_path_factory.mktemp("upload-load-glance"),
            certificate_dir=cert_dir, database_url=postgres.url,
            upload_filter=True, server=request.param)
        with server:
            yield server, key


def prepare(glance, key, n):
    """Image n and the bytes to upload: even ones match their signature
    and declared digest, odd ones are changed in their last byte."""
    data = os.urandom((1 << 20) + n) + b"image %d" % n
    image = new_image(glance.client(), signing.signed_properties(
        key, "load-signer", data))
    sent = data if n % 2 == 0 else tampered(data)
    return image.id, data, sent


def run_round(glance, key):
    cases = [prepare(glance, key, n) for n in range(UPLOADS)]
    barrier = threading.Barrier(UPLOADS)

    def put(case):
        image_id, _, sent = case
        conn = glance.client()
        barrier.wait()
        try:
            return conn.session.put(
                glance.url + "/v2/images/%s/file" % image_id, data=sent,
                headers=HEADERS, raise_exc=False)
        finally:
            conn.close()

    with concurrent.futures.ThreadPoolExecutor(UPLOADS) as pool:
        responses = list(pool.map(put, cases))
    reader = glance.client()
    for n, ((image_id, data, _), response) in enumerate(zip(cases,
                                                            responses)):
        image = reader.image.get_image(image_id)
        if n % 2 == 0:
            assert response.status_code == 204, (n, response.text)
            assert image.status == "active"
            assert image.hash_value == hashlib.sha512(data).hexdigest()
        else:
            assert response.status_code == 400, (n, response.text)
            assert "Image %s was not uploaded" % image_id in response.text
            assert "does not match img_hash_value" in response.text
            assert image.status == "queued"
            assert not glance.stored(image_id)


def test_twenty_uploads_at_once(world):
    glance, key = world
    pid = glance.worker_pid()
    run_round(glance, key)
    after_first = harness.settled(pid)
    run_round(glance, key)
    after_second = harness.settled(pid)
    # A leak of the guard's would grow by one thread or descriptor per
    # upload at least (20 a round); the worker's own pools (database
    # connections, idle keep-alive sockets) move by a few either way.
    slack = UPLOADS // 2
    assert after_second[0] <= after_first[0] + slack, (after_first,
                                                       after_second)
    assert after_second[1] <= after_first[1] + slack, (after_first,
                                                       after_second)
    SUMMARY.append(
        "upload load (%s): 2 rounds of %d concurrent uploads; worker after "
        "each: %d/%d threads, %d/%d fds" % (
            glance.server, UPLOADS, after_first[0], after_second[0],
            after_first[1], after_second[1]))


def test_racing_uploads_never_let_the_tampered_bytes_in(world):
    glance, key = world
    data = os.urandom(4 << 20)
    image = new_image(glance.client(), signing.signed_properties(
        key, "load-signer", data))
    barrier = threading.Barrier(2)

    def put(body):
        conn = glance.client()
        barrier.wait()
        return conn.session.put(
            glance.url + "/v2/images/%s/file" % image.id, data=body,
            headers=HEADERS, raise_exc=False).status_code

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(put, [data, tampered(data)]))
    after = glance.client().image.get_image(image.id)
    # Whichever order Glance lets them in, an image that is active holds
    # exactly the signed bytes; otherwise it is queued with nothing stored.
    if after.status == "active":
        assert after.hash_value == hashlib.sha512(data).hexdigest()
        assert 204 in statuses
    else:
        assert after.status == "queued", (statuses, after.status)
        assert not glance.stored(image.id)
    # 409 or 410 is Glance's own answer to the upload that lost the race
    # (glance/api/v2/image_data.py: the image changed under it).
    assert all(s in (204, 400, 409, 410) for s in statuses), statuses
