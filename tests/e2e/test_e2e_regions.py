"""glance-download between the two regions of the real small OpenStack
(tests/support/openstack.py), and who may import, with real tokens.

RegionTwo's glance-api downloads from RegionOne's, found in the catalog of
the user's own token; the guard checks the bytes against the remote
image's os_hash_value and signature before any store gets them. Bytes are
changed behind Glance's back in RegionOne's file store; records without
os_hash_value are made in RegionOne's database, as Nova's snapshots are
(OSSN-0090)."""

import hashlib
import html
import os
import signal
import threading
import time
import urllib.request
import uuid

import pytest

from conftest import REMOTE_TIMEOUT
from support import harness, signing
from support.e2e import (
    assert_active,
    assert_refused,
    glance_direct,
    new_image,
)

ONE, TWO = "RegionOne", "RegionTwo"


@pytest.fixture(scope="module")
def signer(openstack):
    """alice's key, and its certificate stored in Barbican as alice."""
    return openstack.signer("alice")


@pytest.fixture
def data():
    return os.urandom(1 << 20) + b"regions"


@pytest.fixture
def source(openstack, signer, data):
    """A signed image, active in RegionOne."""
    key, cert_id = signer
    one = openstack.connection("alice", ONE)
    image = glance_direct(one, new_image(
        one, signing.signed_properties(key, cert_id, data)), data)
    assert image.status == "active"
    return image


def download(openstack, remote_id, properties=None, region=ONE,
             user="alice"):
    """A new image in RegionTwo and its glance-download import from
    ``region``. NOTE: openstacksdk sends glance_region and glance_image_id
    only along with remote_service_interface."""
    two = openstack.connection(user, TWO)
    image = new_image(two, properties or {})
    two.image.import_image(image, method="glance-download",
                           remote_region=region, remote_image_id=remote_id,
                           remote_service_interface="public")
    return two, image


def import_again(openstack, two, image, source, data):
    """The retry of a refused glance-download of ``source``: active."""
    two.image.import_image(image, method="glance-download",
                           remote_region=ONE, remote_image_id=source.id,
                           remote_service_interface="public")
    assert_active(openstack.glance(TWO),
                  harness.wait_for_import(two, image.id), data)


def refused_before_download(openstack, remote_id, *reasons, region=ONE,
                            page=False):
    """The filter answers the import request with 400: no task, the image
    still queued and untouched. Returns the image (``page``: the
    response's text)."""
    two = openstack.connection("alice", TWO)
    image = new_image(two, {})
    response = two.session.post(
        openstack.image_url(TWO) + "/v2/images/%s/import" % image.id,
        json={"method": {"name": "glance-download", "glance_region": region,
                         "glance_image_id": remote_id,
                         "glance_service_interface": "public"}},
        raise_exc=False)
    assert response.status_code == 400, response.text
    text = html.unescape(response.text)  # webob's error page is HTML
    assert "Image %s was not imported" % image.id in text
    for reason in reasons:
        assert reason in text
    after = openstack.connection("alice", TWO).image.get_image(image.id)
    assert after.status == "queued"
    assert harness.image_tasks(two, image.id) == []
    return response.text if page else after


def test_signed_image_is_imported_into_the_other_region_with_its_signature(
        openstack, source, data):
    """The local image is created without any signature property; the
    guard adopts RegionOne's set after verifying it over the downloaded
    bytes, so the copy is signed for Nova as the original is."""
    two, image = download(openstack, source.id)
    image = harness.wait_for_import(two, image.id)
    assert_active(openstack.glance(TWO), image, data)
    for name in ("img_signature", "img_signature_hash_method",
                 "img_signature_key_type",
                 "img_signature_certificate_uuid"):
        assert image.properties[name] == source.properties[name]
    assert openstack.image_path(image.id, TWO).read_bytes() == data


def test_bytes_changed_in_the_remote_store_are_refused_then_retry_works(
        openstack, source, data):
    path = openstack.image_path(source.id, ONE)
    tampered = data[:100] + bytes([data[100] ^ 1]) + data[101:]
    path.write_bytes(tampered)
    try:
        two, image = download(openstack, source.id)
        image = harness.wait_for_import(two, image.id)
        assert_refused(
            openstack.glance(TWO), two, image,
            "the downloaded data does not match the remote image %s in "
            "region %s" % (source.id, ONE),
            "its sha512 digest is %s" % hashlib.sha512(tampered).hexdigest(),
            "os_hash_value is %s" % hashlib.sha512(data).hexdigest(),
            "img_signature does not match the image data")
        assert "img_signature" not in image.properties
    finally:
        path.write_bytes(data)
    import_again(openstack, two, image, source, data)


def test_remote_image_without_os_hash_value_is_refused(openstack, source):
    openstack.glance_sql(
        ONE, "UPDATE images SET os_hash_algo = NULL, os_hash_value = NULL "
        "WHERE id = %s", source.id)
    refused_before_download(
        openstack, source.id,
        "the remote image %s in region %s has no os_hash_value" % (
            source.id, ONE), "require_remote_hash")


def test_remote_bytes_that_end_early_leave_a_retryable_image(
        openstack, source, data):
    """RegionOne's glance-api sends fewer bytes than it announced, as when
    it goes away mid-download. That fails in Glance's own download task,
    before any plugin, so the message is Glance's; the image must still be
    queued with no lock, and a retry works."""
    path = openstack.image_path(source.id, ONE)
    path.write_bytes(data[:len(data) // 2])
    try:
        two, image = download(openstack, source.id)
        image = harness.wait_for_import(two, image.id)
        assert image.status == "queued"
        assert "os_glance_import_task" not in image.properties
        assert not openstack.glance(TWO).stored(image.id)
        assert harness.last_task(two, image.id).status == "failure"
    finally:
        path.write_bytes(data)
    import_again(openstack, two, image, source, data)


def test_a_remote_region_that_is_down_is_refused_until_it_is_back(
        openstack, source, data):
    one = openstack.glance(ONE)
    port = one.port
    one.stop()
    try:
        image = refused_before_download(
            openstack, source.id, "the remote image %s in region %s cannot "
            "be imported: its region did not answer; try again later" % (
                source.id, ONE))
    finally:
        one.start(port=port)
    import_again(openstack, openstack.connection("alice", TWO), image,
                 source, data)


def test_a_remote_region_that_hangs_is_refused_and_glance_keeps_answering(
        openstack, source, data):
    """RegionOne's glance-api accepts connections but answers nothing
    (SIGSTOP): the pre-check gives up after remote_timeout with "try
    again later", and RegionTwo answers /healthcheck meanwhile."""
    one = openstack.glance(ONE)
    two_url = openstack.image_url(TWO)
    health = []

    def probe(until):
        while time.monotonic() < until:
            started = time.monotonic()
            with urllib.request.urlopen(two_url + "/healthcheck",
                                        timeout=30) as r:
                health.append((r.status, time.monotonic() - started))
            time.sleep(0.2)

    os.killpg(one.process.pid, signal.SIGSTOP)
    try:
        prober = threading.Thread(target=probe, args=(
            time.monotonic() + REMOTE_TIMEOUT,))
        prober.start()
        image = refused_before_download(
            openstack, source.id, "the remote image %s in region %s cannot "
            "be imported: its region did not answer; try again later" % (
                source.id, ONE))
        prober.join()
    finally:
        os.killpg(one.process.pid, signal.SIGCONT)
    assert health and all(status == 200 for status, _ in health)
    print("RegionTwo /healthcheck while RegionOne hung: %d answers, worst "
          "%.3f s" % (len(health), max(s for _, s in health)))
    import_again(openstack, openstack.connection("alice", TWO), image,
                 source, data)


def _import_request(openstack, image_id, method, remote_id,
                    region=ONE, http_method="POST", query="", user="alice"):
    two = openstack.connection(user, TWO)
    return two.session.request(
        openstack.image_url(TWO) + "/v2/images/%s/import%s" % (
            image_id, query), http_method,
        json={"method": {"name": method, "glance_region": region,
                         "glance_image_id": remote_id,
                         "glance_service_interface": "public"}},
        raise_exc=False)


def test_glances_own_checks_come_before_the_pre_check(openstack):
    """A remote id that is not a UUID gets Glance's own 400, and an image
    that is not queued Glance's own 409; the guard reads no remote record
    for either."""
    two = openstack.connection("alice", TWO)
    image = new_image(two, {})
    response = _import_request(openstack, image.id, "glance-download",
                               "not-a-uuid")
    assert response.status_code == 400, response.text
    assert "does not look like a UUID" in response.text
    assert "was not imported" not in response.text
    two.image.stage_image(image, data=b"staged")
    response = _import_request(openstack, image.id, "glance-download",
                               str(uuid.uuid4()))
    assert response.status_code == 409, response.text
    assert "was not imported" not in response.text


def test_the_pre_check_holds_through_a_method_override(openstack, data):
    """GET .../import?_method=POST is routed to the import by Glance:
    the pre-check refuses the unsigned remote image there too."""
    one = openstack.connection("tess", ONE)
    remote = glance_direct(one, new_image(one, {}), data)
    two = openstack.connection("alice", TWO)
    image = new_image(two, {})
    response = _import_request(openstack, image.id, "glance-download",
                               remote.id, http_method="GET",
                               query="?_method=POST")
    assert response.status_code == 400, response.text
    assert "this cloud imports only signed images" in html.unescape(
        response.text)
    assert two.image.get_image(image.id).status == "queued"
    assert harness.image_tasks(two, image.id) == []


def left_to_glance(openstack, remote_id, region=ONE, user="alice"):
    """A glance-download the pre-check leaves to Glance: Glance answers
    202 as it would alone, its own task fails, and the image is not
    active, holds no lock and has nothing in RegionTwo's store."""
    two = openstack.connection(user, TWO)
    image = new_image(two, {})
    response = _import_request(openstack, image.id, "glance-download",
                               remote_id, region=region, user=user)
    assert response.status_code == 202, response.text
    after = harness.wait_for_import(two, image.id)
    assert after.status == "queued"
    assert harness.last_task(two, image.id).status == "failure"
    assert not openstack.image_path(image.id, TWO).exists()
    return after


def test_a_region_name_reaches_the_log_escaped(openstack, source):
    """A line break in glance_region cannot start a forged line in the
    guard's log lines."""
    forged = "RegionNine\nWARNING glance forged line"
    left_to_glance(openstack, source.id, region=forged)
    guard_lines = [line for line in openstack.glance(TWO).log_path.read_text(
        errors="replace").splitlines() if "import_guard" in line]
    assert any("RegionNine\\nWARNING glance forged line" in line
               for line in guard_lines)
    assert not any(line.endswith("RegionNine") for line in guard_lines)


def test_a_region_that_does_not_exist_is_left_to_glance(openstack, source):
    left_to_glance(openstack, source.id, region="RegionNine")


def test_a_remote_image_that_does_not_exist_is_left_to_glance(openstack):
    left_to_glance(openstack, str(uuid.uuid4()))


def test_a_remote_image_of_another_project_is_left_to_glance(openstack,
                                                             source):
    """bob cannot see alice's private image in RegionOne."""
    left_to_glance(openstack, source.id, user="bob")


def test_a_remote_image_that_is_not_active_is_refused_on_its_record(
        openstack):
    """A queued image has no os_hash_value yet: nothing to check the
    bytes against, so the guard's own rule refuses it."""
    one = openstack.connection("alice", ONE)
    refused_before_download(openstack, new_image(one, {}).id,
                            "has no os_hash_value")


def test_a_remote_image_over_the_local_size_cap_is_not_imported(openstack,
                                                                 signer):
    """RegionTwo's image_size_cap is 8 MiB (conftest)."""
    key, cert_id = signer
    big = os.urandom(9 << 20)
    one = openstack.connection("alice", ONE)
    image = glance_direct(one, new_image(
        one, signing.signed_properties(key, cert_id, big)), big)
    assert image.status == "active"
    left_to_glance(openstack, image.id)


def test_unsigned_remote_image_is_refused_before_download(openstack, data):
    """tess may import unsigned images in either region (exempt_roles);
    alice may not download one into RegionTwo."""
    one = openstack.connection("tess", ONE)
    image = glance_direct(one, new_image(one, {}), data)
    assert image.status == "active"
    refused_before_download(openstack, image.id,
                            "this cloud imports only signed images")


# -- who may import, with real tokens ------------------------------------

def test_exempt_roles_work_with_a_real_role_assignment(openstack, data):
    """tess has the unsigned-uploader role ([import_guard] exempt_roles);
    alice, in the same project, has not."""
    tess = openstack.connection("tess", ONE)
    image = glance_direct(tess, new_image(tess, {}), data)
    assert_active(openstack.glance(ONE), image, data)
    alice = openstack.connection("alice", ONE)
    refused = glance_direct(alice, new_image(alice, {}), data)
    assert_refused(openstack.glance(ONE), alice, refused,
                   "this cloud imports only signed images", at_once=True)


def test_a_reader_cannot_import(openstack, signer, data):
    """rita has only reader on alice's project: Glance's default policies
    let her see alice's image but not stage or import it."""
    key, cert_id = signer
    alice = openstack.connection("alice", ONE)
    image = new_image(alice, signing.signed_properties(key, cert_id, data))
    rita = openstack.connection("rita", ONE)
    assert rita.image.get_image(image.id).id == image.id
    url = openstack.image_url(ONE) + "/v2/images/%s" % image.id
    # A small body: Glance refuses before reading it, and a large one
    # could still be in flight when the server closes the connection.
    staged = rita.session.put(url + "/stage", data=data[:1024],
                              raise_exc=False, headers={
                                  "Content-Type": "application/octet-stream"})
    assert staged.status_code == 403, staged.text
    rita = openstack.connection("rita", ONE)
    imported = rita.session.post(url + "/import", json={
        "method": {"name": "glance-direct"}}, raise_exc=False)
    assert imported.status_code in (403, 409), imported.text
    assert alice.image.get_image(image.id).status == "queued"


def test_a_forged_service_roles_header_does_nothing(openstack, data):
    """keystonemiddleware strips a client's X-Service-Roles; only a real
    service token (test_e2e_openstack) exempts an upload."""
    glance = openstack.glance(ONE)
    alice = openstack.connection("alice", ONE)
    image = new_image(alice, {})
    response = alice.session.put(
        glance.url + "/v2/images/%s/file" % image.id,
        data=data[:4096],  # refused unread: small, so all of it is sent
        raise_exc=False, headers={
            "Content-Type": "application/octet-stream",
            "X-Service-Roles": "service", "X-Service-Token": "forged"})
    assert 400 <= response.status_code < 500, response.text
    after = openstack.connection("alice", ONE).image.get_image(image.id)
    assert after.status == "queued"
    assert not glance.stored(image.id)


def test_a_service_token_without_the_service_role_is_not_exempt(
        openstack, data):
    """alice's own token sent as the service token: keystonemiddleware
    rejects it (service_token_roles_required) or passes no service role;
    either way the unsigned upload does not go through."""
    glance = openstack.glance(ONE)
    session = openstack.service_session("alice", service_user="bob")
    alice = openstack.connection("alice", ONE, session=session)
    image = new_image(openstack.connection("alice", ONE), {})
    response = alice.session.put(
        glance.url + "/v2/images/%s/file" % image.id,
        data=data[:4096],  # refused unread: small, so all of it is sent
        raise_exc=False,
        headers={"Content-Type": "application/octet-stream"})
    assert 400 <= response.status_code < 500, response.text
    after = openstack.connection("alice", ONE).image.get_image(image.id)
    assert after.status == "queued"
    assert not glance.stored(image.id)


# -- a second host in a region ---------------------------------------

def test_an_import_proxied_to_the_staging_worker_uses_its_record(
        openstack, data):
    """Two glance-api hosts of one region: alice stages on the second,
    imports through the region's endpoint (the first), and Glance proxies
    the import to the host that staged (os_glance_stage_host, its
    worker_self_reference_url), which has the record. Glance proxies with
    the user's token, so this runs on the real Keystone."""
    key, cert_id = openstack.signer("alice")
    first = openstack.glance("RegionOne")
    with openstack.another_glance("RegionOne", "stager") as second:
        conn = openstack.connection("alice", "RegionOne")
        image = new_image(conn, signing.signed_properties(key, cert_id,
                                                          data))
        response = conn.session.put(
            second.url + "/v2/images/%s/stage" % image.id, data=data,
            headers={"Content-Type": "application/octet-stream"})
        assert response.status_code == 204, response.text
        record = second.staging_dir / ".import-guard" / (image.id + ".json")
        assert record.exists()
        conn.image.import_image(image, method="glance-direct")
        image = harness.wait_for_import(conn, image.id)
        assert_active(second, image, data)
        assert ("used the digests recorded when image %s was staged"
                % image.id) in second.log_path.read_text()
        assert "import_guard accepted image %s" % image.id not in \
            first.log_path.read_text(), "not proxied"
