"""End to end, the doors other than import: a real glance-api whose paste
pipeline has the guard's filter after ``context``, under gunicorn and under
uWSGI (which reads chunked bodies itself), driven over HTTP by a real
client (keystoneauth's session, as openstacksdk sends it; raw sockets where
a client would not misbehave on purpose)."""

import concurrent.futures
import hashlib
import os
import socket
import threading
import time

import pytest

from support import harness, signing
from support.e2e import new_image
from support.signing import tampered


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    cert_dir = tmp_path_factory.mktemp("upload-certs")
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, "uploader",
                                signing.make_certificate(key))
    return key, cert_dir


@pytest.fixture(scope="module", params=["gunicorn", "uwsgi"])
def glance(request, tmp_path_factory, signer):
    server = harness.GlanceServer(
        tmp_path_factory.mktemp("glance-upload"), certificate_dir=signer[1],
        upload_filter=True, show_multiple_locations=True,
        import_guard={"exempt_service_roles": ["service"]},
        server=request.param)
    with server:
        yield server


@pytest.fixture
def data():
    return os.urandom(2 << 20) + b"tail"


def signed(signer, data, **kwargs):
    return signing.signed_properties(signer[0], "uploader", data, **kwargs)


def upload(glance, conn, image_id, body, path="/v2/images/%s/file"):
    """PUT the body as openstacksdk does (a generator: chunked)."""
    return conn.session.put(
        glance.url + path % image_id, data=body, raise_exc=False,
        headers={"Content-Type": "application/octet-stream"})


def image_of(glance, image_id):
    """The image, read on a new connection: after refusing an upload
    before reading its body, gunicorn closes the connection (while saying
    keep-alive), so a pooled one may be dead."""
    return glance.client().image.get_image(image_id)


def assert_refused_upload(glance, conn, image, response, *reasons):
    """400 with the guard's message; the image queued, nothing stored,
    retryable."""
    assert response.status_code == 400, response.text
    assert "Image %s was not uploaded" % image.id in response.text
    for reason in reasons:
        assert reason in response.text
    after = image_of(glance, image.id)
    assert after.status == "queued"
    assert not glance.stored(image.id), "refused data left in the store"


def assert_uploaded(glance, conn, image, response, data):
    assert response.status_code == 204, response.text
    after = image_of(glance, image.id)
    assert after.status == "active"
    assert after.hash_value == hashlib.sha512(data).hexdigest()
    assert glance.stored(image.id)


def test_unsigned_upload_is_refused_before_a_byte_is_stored(glance, conn,
                                                            data):
    image = new_image(conn, {})
    response = upload(glance, conn, image.id, data)
    assert_refused_upload(glance, conn, image, response,
                          "this cloud imports only signed images")


def test_a_refusal_is_one_warning_line_naming_request_user_door_and_codes(
        glance, conn, data):
    """What a SOC parses: one WARNING line per refusal with the door, the
    image, the request id (the one the client got), the user, the
    project, the problem codes and the message; oslo.log's own prefix
    carries the same request."""
    image = new_image(conn, {})
    mark = len(glance.log_path.read_text(errors="replace"))
    response = upload(glance, conn, image.id, data)
    assert response.status_code == 400, response.text
    request_id = response.headers["x-openstack-request-id"]
    lines = [line for line in glance.log_path.read_text(
        errors="replace")[mark:].splitlines()
        if "import_guard refused" in line]
    assert len(lines) == 1, lines
    line = lines[0]
    assert " WARNING glance_import_guard.doors " in line, line
    assert "%s %s %s - " % (request_id, harness.USER_ID,
                           harness.PROJECT_ID) in line, line
    assert ("import_guard refused upload of image %s (request %s, user %s, "
            "project %s) [missing-signature-property," % (
                image.id, request_id, harness.USER_ID, harness.PROJECT_ID)
            ) in line, line
    assert "Image %s was not uploaded: " % image.id in line, line


def test_signed_upload_with_the_declared_digest_goes_active(
        glance, conn, signer, data):
    image = new_image(conn, signed(signer, data))
    assert_uploaded(glance, conn, image, upload(glance, conn, image.id, data),
                    data)


def test_chunked_upload_is_checked_at_its_end(glance, conn, signer, data):
    image = new_image(conn, signed(signer, data))
    chunks = (data[i:i + 65536] for i in range(0, len(data), 65536))
    assert_uploaded(glance, conn, image, upload(glance, conn, image.id,
                                                chunks), data)


def test_bytes_not_matching_the_declared_digest_are_refused_then_retried(
        glance, conn, signer, data):
    image = new_image(conn, signed(signer, data))
    other = tampered(data)
    response = upload(glance, conn, image.id, other)
    assert_refused_upload(glance, conn, image, response,
                          "the image data does not match img_hash_value")
    fresh = glance.client()
    assert_uploaded(glance, fresh, image, upload(glance, fresh, image.id,
                                                 data), data)


def test_signature_by_another_key_is_refused(glance, conn, signer, data):
    props = signed(signer, data, declare=None)
    props["img_signature"] = signing.sign(signing.make_key("RSA-PSS"), data)
    image = new_image(conn, props)
    response = upload(glance, conn, image.id, data)
    assert_refused_upload(glance, conn, image, response,
                          "img_signature does not match the image data")


@pytest.mark.parametrize("path", ["/v2/images/%s/%%66ile",
                                  "/v2//images/%s/file",
                                  "/v2.0/images/%s/file"])
def test_other_spellings_of_the_upload_are_the_same_door(glance, conn,
                                                         path, data):
    image = new_image(conn, {})
    response = upload(glance, conn, image.id, data, path=path)
    assert_refused_upload(glance, conn, image, response,
                          "this cloud imports only signed images")


def test_an_exempt_service_token_uploads_unchecked(glance, data):
    nova = glance.client(service_roles=["service"])
    image = new_image(nova, {})
    assert_uploaded(glance, nova, image, upload(glance, nova, image.id, data),
                    data)


def test_a_service_token_without_the_exempt_role_is_checked(glance, data):
    other = glance.client(service_roles=["reader"])
    image = new_image(other, {})
    response = upload(glance, other, image.id, data)
    assert_refused_upload(glance, other, image, response,
                          "this cloud imports only signed images")


def test_locations_are_refused(glance, conn):
    image = new_image(conn, {})
    admin = glance.client(roles=("admin", "member", "reader"))
    url = "http://127.0.0.1:9/elsewhere"
    patch = admin.session.patch(
        glance.url + "/v2/images/%s" % image.id, raise_exc=False,
        json=[{"op": "add", "path": "/locations/-",
               "value": {"url": url, "metadata": {}}}],
        headers={"Content-Type":
                 "application/openstack-images-v2.1-json-patch"})
    assert patch.status_code == 403, patch.text
    assert "does not let images take their data from a location" in \
        patch.text
    post = admin.session.post(
        glance.url + "/v2/images/%s/locations" % image.id, raise_exc=False,
        json={"url": url})
    # The locations API (glance 29+) is refused by the filter; glance 28
    # has no such route at all.
    assert post.status_code in (403, 404, 405), post.text
    if post.status_code == 403:
        assert "does not let images take their data" in post.text
    assert image_of(glance, image.id).status == "queued"


def test_the_legacy_tasks_import_is_refused(glance):
    admin = glance.client(roles=("admin", "member", "reader"))
    response = admin.session.post(
        glance.url + "/v2/tasks", raise_exc=False,
        json={"type": "import", "input": {
            "import_from": "http://127.0.0.1:9/x",
            "import_from_format": "raw",
            "image_properties": {"disk_format": "raw",
                                 "container_format": "bare"}}})
    assert response.status_code == 403, response.text
    assert "tasks API" in response.text


def test_signature_properties_are_fixed_once_the_image_has_data(
        glance, conn, signer, data):
    image = new_image(conn, signed(signer, data))
    # While queued the user may still correct them.
    patch = [{"op": "replace", "path": "/img_signature_hash_method",
              "value": "SHA-256"}]
    headers = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    ok = conn.session.patch(glance.url + "/v2/images/%s" % image.id,
                            json=patch, headers=headers, raise_exc=False)
    assert ok.status_code == 200, ok.text
    assert_uploaded(glance, conn, image, upload(glance, conn, image.id, data),
                    data)
    for path in ("/img_signature", "/img_hash_value"):
        refused = conn.session.patch(
            glance.url + "/v2/images/%s" % image.id, raise_exc=False,
            json=[{"op": "replace", "path": path, "value": "x"}],
            headers=headers)
        assert refused.status_code == 403, refused.text
        assert "cannot change once the image has data" in refused.text
    # Other properties stay editable.
    fine = conn.session.patch(
        glance.url + "/v2/images/%s" % image.id, raise_exc=False,
        json=[{"op": "add", "path": "/os_distro", "value": "debian"}],
        headers=headers)
    assert fine.status_code == 200, fine.text


def raw_put(glance, image_id, head_length, body, door="file"):
    """A PUT to ``door`` (file, stage) whose Content-Length says
    ``head_length`` but which sends ``body``, then closes; returns the
    status line (or '' if the server closed first)."""
    request = ("PUT /v2/images/%s/%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Content-Type: application/octet-stream\r\n"
               "Content-Length: %d\r\nConnection: close\r\n" % (
                   image_id, door, head_length))
    request += "".join("%s: %s\r\n" % kv for kv in glance.headers().items())
    with socket.create_connection(("127.0.0.1", glance.port),
                                  timeout=60) as s:
        s.sendall(request.encode() + b"\r\n")
        try:
            s.sendall(body)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        reply = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            reply += chunk
    return reply.split(b"\r\n", 1)[0].decode(errors="replace")


@pytest.mark.parametrize("lie", ["shorter", "longer", "disconnect"])
def test_a_lying_or_vanishing_client_leaves_a_queued_image(
        glance, conn, signer, data, lie):
    image = new_image(conn, signed(signer, data))
    if lie == "shorter":  # the server reads what the header says
        status = raw_put(glance, image.id, len(data) - 1000, data)
    elif lie == "longer":  # the body ends before the header's length
        status = raw_put(glance, image.id, len(data) + 1000, data)
    else:  # half the body, then gone
        status = raw_put(glance, image.id, len(data), data[:len(data) // 2])
    assert " 204 " not in status
    after = image_of(glance, image.id)
    assert after.status == "queued", (lie, status, after.status)
    assert not glance.stored(image.id)
    # And the image takes a correct upload afterwards.
    fresh = glance.client()
    assert_uploaded(glance, fresh, image, upload(glance, fresh, image.id,
                                                 data), data)


def test_a_patch_during_the_upload_cannot_change_what_is_verified(
        glance, conn, signer, data):
    image = new_image(conn, signed(signer, data))
    reached = threading.Event()
    proceed = threading.Event()

    def slow_body():
        yield data[:65536]
        reached.set()
        proceed.wait(30)
        for i in range(65536, len(data), 65536):
            yield data[i:i + 65536]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        uploading = pool.submit(upload, glance, glance.client(), image.id,
                                slow_body())
        assert reached.wait(30)
        time.sleep(0.5)  # the first chunk is in Glance: status saving
        patch = glance.client().session.patch(
            glance.url + "/v2/images/%s" % image.id, raise_exc=False,
            json=[{"op": "replace", "path": "/img_hash_value",
                   "value": "0" * 128}],
            headers={"Content-Type":
                     "application/openstack-images-v2.1-json-patch"})
        proceed.set()
        response = uploading.result(60)
    assert patch.status_code == 403, patch.text
    assert "cannot change once the image has data" in patch.text
    assert_uploaded(glance, conn, image, response, data)
    after = image_of(glance, image.id)
    assert after.properties["img_hash_value"] == hashlib.sha512(
        data).hexdigest()


def test_the_import_door_works_through_the_filter(glance, conn, signer,
                                                  data):
    # Staging is a PUT the filter lets through as it is (the plugin checks
    # the import); a chunked body under uWSGI reaches Glance whole.
    image = new_image(conn, signed(signer, data))
    chunks = (data[i:i + 65536] for i in range(0, len(data), 65536))
    staged = conn.session.put(
        glance.url + "/v2/images/%s/stage" % image.id, data=chunks,
        headers={"Content-Type": "application/octet-stream"},
        raise_exc=False)
    assert staged.status_code == 204, staged.text
    conn.image.import_image(image, method="glance-direct")
    after = harness.wait_for_import(glance.client(), image.id)
    assert after.status == "active"
    assert after.hash_value == hashlib.sha512(data).hexdigest()
