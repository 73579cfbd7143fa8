"""Digests recorded at staging, end to end: a real glance-api with the
guard's filter in its pipeline hashes ``PUT .../stage`` as Glance stages
it, and the glance-direct import uses the record instead of reading the
staged file again, only when it may (see ``glance_import_guard.staging``).
Every case ends in the verdict a fresh read gives."""

import os

import pytest
from test_e2e_upload import raw_put

from support import harness, signing
from support.e2e import assert_active, assert_refused, new_image, start_import
from support.signing import tampered

USED = "used the digests recorded when image %s was staged"


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    cert_dir = tmp_path_factory.mktemp("staging-certs")
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, "stager",
                                signing.make_certificate(key))
    return key, cert_dir


@pytest.fixture(scope="module")
def glance(tmp_path_factory, signer, files):
    with harness.GlanceServer(tmp_path_factory.mktemp("glance-staging"),
                              certificate_dir=signer[1],
                              web_download_ports=[files.port],
                              upload_filter=True) as server:
        yield server


@pytest.fixture
def data():
    return os.urandom(3 << 20) + b"staged"


def signed(signer, data):
    return signing.signed_properties(signer[0], "stager", data)


def record_of(glance, image_id):
    return glance.staging_dir / ".import-guard" / ("%s.json" % image_id)


def stage_and_import(conn, image, data):
    conn.image.stage_image(image, data=data)
    conn.image.import_image(image, method="glance-direct")
    return harness.wait_for_import(conn, image.id)


def log_since(glance, mark):
    return glance.log_path.read_text(errors="replace")[mark:]


def test_a_staged_image_is_imported_from_its_record(glance, conn, signer,
                                                    data):
    image = new_image(conn, signed(signer, data))
    mark = len(glance.log_path.read_text(errors="replace"))
    conn.image.stage_image(image, data=data)
    assert record_of(glance, image.id).exists()
    conn.image.import_image(image, method="glance-direct")
    assert_active(glance, harness.wait_for_import(conn, image.id), data)
    assert USED % image.id in log_since(glance, mark)
    assert not record_of(glance, image.id).exists()


def test_a_refused_import_is_a_warning_with_no_error_traceback(glance, conn,
                                                              signer, data):
    image = new_image(conn, signed(signer, data))
    mark = len(glance.log_path.read_text(errors="replace"))
    refused = stage_and_import(conn, image, tampered(data))
    assert_refused(glance, conn, refused,
                   "the image data does not match img_hash_value")
    log = log_since(glance, mark)
    assert "WARNING glance_import_guard.plugin" in log
    assert "import_guard refused import of image %s" % image.id in log
    # Glance's own line for the failed task stays, without a traceback.
    assert "transitioned into state 'FAILURE'" in log
    assert " ERROR " not in log and "Traceback" not in log, log


@pytest.mark.parametrize("how", ["DELETE", "POST with _method=DELETE"])
def test_deleting_a_staged_image_removes_its_record(glance, conn, signer,
                                                   data, how):
    image = new_image(conn, signed(signer, data))
    conn.image.stage_image(image, data=data)
    assert record_of(glance, image.id).exists()
    url = glance.url + "/v2/images/%s" % image.id
    if how == "DELETE":
        response = conn.session.delete(url, raise_exc=False)
    else:
        response = conn.session.post(url + "?_method=DELETE",
                                     raise_exc=False)
    assert response.status_code == 204, response.text
    assert not (glance.staging_dir / image.id).exists()  # Glance's part
    assert not record_of(glance, image.id).exists()


def test_a_stage_that_fails_midway_records_nothing(glance, conn, signer,
                                                   data):
    image = new_image(conn, signed(signer, data))
    status = raw_put(glance, image.id, len(data), data[:len(data) // 2],
                     door="stage")
    assert " 204 " not in status
    assert not record_of(glance, image.id).exists()
    fresh = glance.client()
    assert_active(glance, stage_and_import(fresh, image, data), data)


def test_a_restage_after_a_refused_import_is_recorded_anew(glance, conn,
                                                           signer, data):
    image = new_image(conn, signed(signer, data))
    wrong = tampered(data)
    refused = stage_and_import(conn, image, wrong)
    assert_refused(glance, conn, refused,
                   "the image data does not match img_hash_value")
    assert not record_of(glance, image.id).exists()
    mark = len(glance.log_path.read_text(errors="replace"))
    assert_active(glance, stage_and_import(conn, refused, data), data)
    assert USED % image.id in log_since(glance, mark)


@pytest.mark.parametrize("change", ["truncate", "append", "rename"])
def test_a_staged_file_changed_behind_glance_is_judged_on_its_bytes(
        glance, conn, signer, data, change):
    image = new_image(conn, signed(signer, data))
    conn.image.stage_image(image, data=data)
    staged = glance.staged(image.id)
    assert staged and record_of(glance, image.id).exists()
    path = glance.staging_dir / image.id
    if change == "truncate":
        os.truncate(path, len(data) // 2)
    elif change == "append":
        with open(path, "ab") as f:
            f.write(b"more")
    else:
        other = path.with_suffix(".new")
        other.write_bytes(tampered(data))
        os.rename(other, path)
    mark = len(glance.log_path.read_text(errors="replace"))
    conn.image.import_image(image, method="glance-direct")
    image = harness.wait_for_import(conn, image.id)
    assert image.status != "active"
    assert "the staged file changed since it was staged" in log_since(
        glance, mark)


@pytest.mark.parametrize("method", ["glance-direct", "web-download"])
def test_an_import_the_record_refuses_is_refused_at_once_then_fixed(
        glance, conn, signer, data, files, method):
    """POST .../import answers 400 (no task, no lock); the properties can
    still be set, the image is imported with no new upload, and the kept
    refusal goes with the accepted import."""
    image = new_image(conn, {})
    refused = start_import(conn, files, image, data, method)
    assert refused is not None and refused.status_code == 400
    image = conn.image.get_image(image.id)
    assert_refused(glance, conn, image, "img_signature is missing",
                   at_once=True)
    assert image.status == (
        "uploading" if method == "glance-direct" else "queued")
    conn.image.update_image(image, **signed(signer, data))
    if method == "glance-direct":
        conn.image.import_image(image, method=method)
    else:
        assert start_import(conn, files, image, data, method) is None
    assert_active(glance, harness.wait_for_import(conn, image.id), data)


def test_verified_properties_stay_fixed_once_the_image_has_data(
        glance, conn, signer, data):
    """Only queued and uploading images (no data in a store) take a change
    of what the guard verifies."""
    image = new_image(conn, signed(signer, data))
    assert stage_and_import(conn, image, data).status == "active"
    response = conn.session.patch(
        glance.url + "/v2/images/%s" % image.id, raise_exc=False,
        headers={"Content-Type":
                 "application/openstack-images-v2.1-json-patch"},
        json=[{"op": "replace", "path": "/img_signature", "value": "AAAA"}])
    assert response.status_code == 403, response.text
    assert "img_signature cannot change once the image has data" in (
        response.text)
