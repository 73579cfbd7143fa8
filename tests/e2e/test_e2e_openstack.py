"""End to end in a real small OpenStack (tests/support/openstack.py):
Keystone tokens, certificates in Barbican read by castellan's barbican
backend, two regions, and Glance's stock ``keystone`` paste pipeline with
the guard's filter after ``context``. Nothing is mocked: users sign in with
a password, openstacksdk finds Glance in the catalog."""

import hashlib
import json
import os
import pathlib
import subprocess
import sys

import pytest

from support import harness, signing
from support.e2e import (
    assert_active,
    assert_refused,
    glance_direct,
    new_image,
)
from support.openstack import REGIONS


@pytest.fixture
def data():
    return os.urandom(1 << 20) + b"tail"


@pytest.fixture(scope="module")
def signer(openstack):
    """alice's key, and its certificate stored in Barbican as alice."""
    return openstack.signer("alice")


def test_the_catalog_has_an_image_endpoint_per_region(openstack):
    """What glance-download reads from the request's catalog
    (glance/async_/utils.py, get_glance_endpoint)."""
    session = openstack.session("alice")
    catalog = session.auth.get_access(session).service_catalog
    for interface in ("public", "internal"):
        endpoints = catalog.get_endpoints(service_type="image",
                                          interface=interface)["image"]
        assert {e["region_id"]: e["url"] for e in endpoints} == {
            region: openstack.glance(region).url for region in REGIONS}
    key_manager = catalog.get_endpoints(service_type="key-manager",
                                        interface="public")["key-manager"]
    assert {e["region_id"] for e in key_manager} == set(REGIONS)


@pytest.mark.parametrize("region", REGIONS)
def test_signed_image_with_its_certificate_in_barbican_goes_active(
        openstack, signer, data, region):
    key, cert_id = signer
    conn = openstack.connection("alice", region)
    image = new_image(conn, signing.signed_properties(key, cert_id, data))
    assert image.owner == openstack.project_id("alice")
    conn.image.stage_image(image, data=data)
    conn.image.import_image(image, method="glance-direct")
    image = harness.wait_for_import(conn, image.id)
    glance = openstack.glance(region)
    assert_active(glance, image, data)
    assert harness.last_task(conn, image.id).status == "success"
    stored = openstack.image_path(image.id, region)
    assert hashlib.sha512(stored.read_bytes()).hexdigest() == (
        hashlib.sha512(data).hexdigest())
    other = REGIONS[1 - REGIONS.index(region)]
    assert not openstack.image_path(image.id, other).exists()


def test_unsigned_glance_direct_import_is_refused_at_once(openstack, data):
    conn = openstack.connection("alice", "RegionOne")
    image = glance_direct(conn, new_image(conn, {}), data)
    assert_refused(openstack.glance("RegionOne"), conn, image,
                   "this cloud imports only signed images", at_once=True)


def test_a_refused_import_is_fixed_and_imported_again_without_a_new_stage(
        openstack, signer, data):
    """The import request is refused at once; the staged data stays, the
    signature properties may still be set (the image is ``uploading``),
    and the same data is imported with no new upload."""
    key, cert_id = signer
    glance = openstack.glance("RegionOne")
    conn = openstack.connection("alice", "RegionOne")
    image = glance_direct(conn, new_image(conn, {}), data)
    assert_refused(glance, conn, image, "img_signature is missing",
                   at_once=True)
    assert glance.staged(image.id)
    conn.image.update_image(image, **signing.signed_properties(
        key, cert_id, data))
    conn.image.import_image(image, method="glance-direct")
    image = harness.wait_for_import(conn, image.id)
    assert_active(glance, image, data)


def test_unsigned_upload_through_the_keystone_pipeline_is_refused(
        openstack, data):
    glance = openstack.glance("RegionOne")
    conn = openstack.connection("alice", "RegionOne")
    image = new_image(conn, {})
    response = conn.session.put(
        glance.url + "/v2/images/%s/file" % image.id,
        data=data[:4096],  # refused unread: small, so all of it is sent
        raise_exc=False,
        headers={"Content-Type": "application/octet-stream"})
    assert 400 <= response.status_code < 500, response.text
    assert "this cloud imports only signed images" in response.text
    assert "Image %s was not uploaded" % image.id in response.text
    # A new connection: gunicorn closes the one whose body it did not read.
    after = openstack.connection("alice", "RegionOne").image.get_image(
        image.id)
    assert after.status == "queued"
    assert not glance.stored(image.id), "refused data reached the store"


def test_a_secret_that_is_not_a_certificate_is_refused(openstack, signer,
                                                       data):
    key = signer[0]
    secret = openstack.store_secret(b"not a certificate", "alice",
                                    secret_type="passphrase")
    conn = openstack.connection("alice", "RegionOne")
    image = glance_direct(conn, new_image(
        conn, signing.signed_properties(key, secret, data)), data)
    assert_refused(openstack.glance("RegionOne"), conn, image,
                   "that secret is not a certificate", at_once=True)


def test_barbican_down_is_a_retryable_refusal(openstack, signer, data):
    key, cert_id = signer
    glance = openstack.glance("RegionOne")
    conn = openstack.connection("alice", "RegionOne")
    image = new_image(conn, signing.signed_properties(key, cert_id, data))
    with openstack.barbican_down():
        refused = glance_direct(conn, image, data)
        assert_refused(glance, conn, refused,
                       "could not be retrieved: the key manager did not "
                       "answer", at_once=True)
    # Import again, once Barbican answers: the data is still staged.
    conn.image.import_image(image, method="glance-direct")
    assert_active(glance, harness.wait_for_import(conn, image.id), data)


def test_a_service_token_with_the_service_role_is_exempt_from_the_filter(
        openstack, data):
    """As Nova uploads a snapshot: the user's token and Nova's service
    token; [import_guard] exempt_service_roles = service (conftest)."""
    glance = openstack.glance("RegionOne")
    conn = openstack.connection(
        "alice", "RegionOne", session=openstack.service_session("alice"))
    image = new_image(conn, {})
    response = conn.session.put(
        glance.url + "/v2/images/%s/file" % image.id, data=data,
        raise_exc=False,
        headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 204, response.text
    assert_active(glance, conn.image.get_image(image.id), data)
    assert openstack.image_path(image.id).read_bytes() == data


def test_glance_download_from_the_other_region(openstack, signer, data):
    """RegionTwo's Glance finds RegionOne's in the catalog of alice's token
    and copies the image; the guard checks the copy as any import. NOTE:
    openstacksdk sends glance_region and glance_image_id only along with
    remote_service_interface."""
    key, cert_id = signer
    props = signing.signed_properties(key, cert_id, data)
    one = openstack.connection("alice", "RegionOne")
    source = glance_direct(one, new_image(one, props), data)
    assert source.status == "active"
    two = openstack.connection("alice", "RegionTwo")
    image = new_image(two, props)
    two.image.import_image(image, method="glance-download",
                           remote_region="RegionOne",
                           remote_image_id=source.id,
                           remote_service_interface="public")
    image = harness.wait_for_import(two, image.id)
    assert_active(openstack.glance("RegionTwo"), image, data)
    assert openstack.image_path(image.id, "RegionTwo").read_bytes() == data


def test_an_unknown_secret_is_refused(openstack, signer, data):
    key = signer[0]
    missing = "0e7bd1a4-52b5-4d4b-8e0f-3bb8a7d3c2f1"
    conn = openstack.connection("alice", "RegionOne")
    image = glance_direct(conn, new_image(
        conn, signing.signed_properties(key, missing, data)), data)
    assert_refused(openstack.glance("RegionOne"), conn, image,
                   "the signing certificate %s "
                   "(img_signature_certificate_uuid) cannot be used: the "
                   "key manager has no secret with this id" % missing,
                   at_once=True)


def test_a_secret_of_another_project_is_refused(openstack, data):
    """bob stores the certificate in his project; alice signs with the
    same key but Barbican will not give her bob's secret."""
    key, bobs = openstack.signer("bob")
    conn = openstack.connection("alice", "RegionOne")
    image = glance_direct(conn, new_image(
        conn, signing.signed_properties(key, bobs, data)), data)
    assert_refused(openstack.glance("RegionOne"), conn, image,
                   "the signing certificate %s "
                   "(img_signature_certificate_uuid) cannot be used: this "
                   "project may not read that secret in the key manager"
                   % bobs, at_once=True)


BIN = pathlib.Path(sys.executable).parent


def run_client(openstack, user, *command):
    """A client command (``openstack``, ``glance``) of the venv, as
    ``user`` with an openrc's variables; returns the finished process."""
    env = dict(os.environ, **openstack.cli_environment(user))
    return subprocess.run([str(BIN / command[0]), *command[1:]], env=env,
                          capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)


def test_the_openstack_command_shows_the_refusal_and_the_fix_works(
        openstack, signer, data, tmp_path):
    """python-openstackclient ends ``image create --import`` with success
    whatever the import's answer (openstacksdk discards it), then shows
    the image: the refusal is in its properties. The user sets the
    signature and imports again, with the openstack command alone."""
    key, cert_id = signer
    path = tmp_path / "unsigned.img"
    path.write_bytes(data)
    created = run_client(openstack, "alice", "openstack", "image", "create",
                         "--import", "--file", str(path), "--disk-format",
                         "raw", "--container-format", "bare", "-f", "json",
                         "unsigned")
    assert created.returncode == 0, created.stderr
    image = json.loads(created.stdout)
    assert image["status"] == "uploading"
    kept = image["properties"]["import_guard_refusal"]
    assert kept.startswith("Image %s was not imported: (1) this cloud "
                           "imports only signed images" % image["id"]), kept
    glance = openstack.glance("RegionOne")
    assert glance.staged(image["id"])
    props = signing.signed_properties(key, cert_id, data)
    fixed = run_client(openstack, "alice", "openstack", "image", "set",
                       *[a for k, v in props.items()
                         for a in ("--property", "%s=%s" % (k, v))],
                       image["id"])
    assert fixed.returncode == 0, fixed.stderr
    imported = run_client(openstack, "alice", "openstack", "image", "import",
                          "--method", "glance-direct", image["id"])
    assert imported.returncode == 0, imported.stderr
    conn = openstack.connection("alice", "RegionOne")
    assert_active(glance, harness.wait_for_import(conn, image["id"]), data)


def test_the_glance_command_shows_the_refusal(openstack, data):
    """python-glanceclient raises on the 400: ``glance image-import`` ends
    with status 1 and prints the guard's message."""
    conn = openstack.connection("alice", "RegionOne")
    image = new_image(conn, {})
    conn.image.stage_image(image, data=data)
    refused = run_client(openstack, "alice", "glance", "image-import",
                         "--import-method", "glance-direct", image.id)
    assert refused.returncode == 1, refused.stdout
    assert ("Image %s was not imported: (1) this cloud imports only signed "
            "images" % image.id) in refused.stderr, refused.stderr
    assert conn.image.get_image(image.id).status == "uploading"


def test_openstacksdk_returns_the_refusal_as_the_import_answer(
        openstack, data):
    """``Connection.image.import_image`` returns the answer of the import
    request without raising (openstacksdk through 4.22): a 400 whose JSON
    has the guard's message."""
    conn = openstack.connection("alice", "RegionOne")
    image = new_image(conn, {})
    conn.image.stage_image(image, data=data)
    response = conn.image.import_image(image, method="glance-direct")
    assert response.status_code == 400
    assert ("Image %s was not imported: (1) this cloud imports only signed "
            "images" % image.id) in response.text
