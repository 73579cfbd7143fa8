"""End to end: a real glance-api (gunicorn, SQLite, file stores) with the
guard installed from its wheel, driven by openstacksdk, for glance-direct
and web-download. Keys, certificates and signatures are real; certificates
come from the guard's certificate_directory key manager."""

import hashlib
import os
import uuid

import pytest

from support import harness, signing
from support.e2e import assert_active, assert_refused, do_import, start_import

METHODS = ["glance-direct", "web-download"]


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("certificates")


@pytest.fixture(scope="module")
def signer(cert_dir):
    """A user's signing key and the id of its certificate."""
    key = signing.make_key("RSA-PSS")
    cert_id = str(uuid.uuid4())
    signing.install_certificate(cert_dir, cert_id,
                                signing.make_certificate(key))
    return key, cert_id


@pytest.fixture(scope="module")
def glance(tmp_path_factory, cert_dir, files):
    server = harness.GlanceServer(
        tmp_path_factory.mktemp("glance"), certificate_dir=cert_dir,
        web_download_ports=[files.port])
    with server:
        yield server
    print("glance-api log: %s" % server.log_path)


@pytest.mark.parametrize("method", METHODS)
def test_unsigned_image_is_refused(glance, conn, files, method):
    image = do_import(conn, files, {}, os.urandom(4096), method)
    assert_refused(glance, conn, image, "img_signature is missing",
                   "img_signature_certificate_uuid is missing")


@pytest.mark.parametrize("method", METHODS)
def test_image_missing_one_signature_property_is_refused(
        glance, conn, files, signer, method):
    data = os.urandom(4096)
    props = signing.signed_properties(*signer, data)
    del props["img_signature_key_type"]
    image = do_import(conn, files, props, data, method)
    message = assert_refused(glance, conn, image,
                             "img_signature_key_type is missing")
    assert "img_signature is missing" not in message


@pytest.mark.parametrize("method", METHODS)
def test_signed_image_whose_data_does_not_match_the_digest_is_refused(
        glance, conn, files, signer, method):
    declared_for = os.urandom(4096)
    data = declared_for[:-1] + bytes([declared_for[-1] ^ 1])
    props = signing.signed_properties(*signer, declared_for)
    image = do_import(conn, files, props, data, method)
    assert_refused(glance, conn, image, "does not match img_hash_value",
                   hashlib.sha512(data).hexdigest())


@pytest.mark.parametrize("method", METHODS)
def test_signed_image_with_the_right_digest_goes_active(
        glance, conn, files, signer, method):
    data = os.urandom(1 << 20) + b"tail"
    props = signing.signed_properties(*signer, data)
    image = do_import(conn, files, props, data, method)
    assert_active(glance, image, data)
    # The declared digest is Glance's own algorithm here, so Glance's
    # os_hash_value must agree with what the user declared.
    assert image.hash_value == props["img_hash_value"]


@pytest.mark.parametrize("method", METHODS)
def test_refused_image_goes_active_once_fixed(glance, conn, files, signer,
                                              method):
    data = os.urandom(8192)
    props = signing.signed_properties(*signer, data)
    missing = {k: v for k, v in props.items()
               if k != "img_signature_hash_method"}
    image = do_import(conn, files, missing, data, method)
    assert_refused(glance, conn, image,
                   "img_signature_hash_method is missing")

    conn.image.update_image(
        image.id,
        img_signature_hash_method=props["img_signature_hash_method"])
    start_import(conn, files, image, data, method)  # no 409
    assert_active(glance, harness.wait_for_import(conn, image.id), data)


@pytest.mark.parametrize("method", METHODS)
def test_signature_by_another_key_is_refused(glance, conn, files, signer,
                                             method):
    data = os.urandom(4096)
    other_key = signing.make_key("RSA-PSS")
    props = signing.signed_properties(other_key, signer[1], data)
    image = do_import(conn, files, props, data, method)
    assert_refused(glance, conn, image,
                   "img_signature does not match the image data",
                   "certificate %s" % signer[1])


@pytest.mark.parametrize("method", METHODS)
def test_unknown_certificate_is_refused(glance, conn, files, signer,
                                        method):
    data = os.urandom(4096)
    props = signing.signed_properties(signer[0], "no-such-certificate",
                                      data)
    image = do_import(conn, files, props, data, method)
    assert_refused(glance, conn, image,
                   "the signing certificate no-such-certificate "
                   "(img_signature_certificate_uuid) cannot be used: the "
                   "key manager has no secret with this id")


def test_without_the_guard_the_same_unsigned_image_goes_active(
        tmp_path, files):
    """Proves the refusals above come from the guard, not the harness."""
    data = os.urandom(4096)
    with harness.GlanceServer(tmp_path, plugins=[],
                              web_download_ports=[files.port]) as glance:
        conn = glance.client()
        for method in METHODS:
            image = do_import(conn, files, {}, data, method)
            assert_active(glance, image, data)
