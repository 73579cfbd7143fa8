"""End to end, signatures: a real glance-api whose guard trusts one CA
(trusted_certificate_ids), with certificates served by the
certificate_directory key manager. Signatures come from the openssl CLI,
from cryptography and from the guard's own `glance-import-guard sign`."""

import base64
import datetime
import os
import shlex
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization

from support import harness, signing
from support.e2e import assert_active, assert_refused, do_import

CLI = os.path.join(os.path.dirname(sys.executable), "glance-import-guard")


TRUSTED = ["cloud-ca", "cloud-ca-pathlen-0", "intermediate-of-pathlen-0"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A certificate directory holding the trusted CAs: "cloud-ca" without
    pathLenConstraint (the common CA, on which cursive 0.2.3 raises
    TypeError), "cloud-ca-pathlen-0", and an intermediate CA it issued
    (which pathLen 0 forbids). Returns the directory, "cloud-ca" and a
    dict of every CA by id."""
    cert_dir = tmp_path_factory.mktemp("pki")
    cas = {"cloud-ca": signing.make_ca()}
    cas["cloud-ca-pathlen-0"] = signing.make_ca("pathlen 0 CA",
                                                path_length=0)
    cas["intermediate-of-pathlen-0"] = signing.make_ca(
        "intermediate CA", issuer=cas["cloud-ca-pathlen-0"])
    for ca_id in TRUSTED:
        signing.install_certificate(cert_dir, ca_id, cas[ca_id][1])
    return cert_dir, cas["cloud-ca"], cas


def issue(pki, name, key, **kwargs):
    """A certificate for `key` issued by the CA, in the directory."""
    cert_dir, ca = pki[:2]
    kwargs.setdefault("issuer", ca)
    signing.install_certificate(cert_dir, name, signing.make_certificate(
        key, common_name=name, **kwargs))
    return name


@pytest.fixture(scope="module")
def glance(tmp_path_factory, pki, files):
    server = harness.GlanceServer(
        tmp_path_factory.mktemp("glance-trust"), certificate_dir=pki[0],
        web_download_ports=[files.port],
        import_guard={"trusted_certificate_ids": TRUSTED})
    with server:
        yield server


@pytest.fixture
def data():
    return os.urandom(3 << 20) + b"tail"


def openssl_pss_sign(tmp_path, key, data):
    """The Glance docs' recipe: openssl dgst -sha256 -sign ... -sigopt
    rsa_padding_mode:pss (OpenSSL's default salt length)."""
    key_file, image = tmp_path / "key.pem", tmp_path / "image"
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    image.write_bytes(data)
    sig = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", str(key_file), "-sigopt",
         "rsa_padding_mode:pss", str(image)],
        check=True, capture_output=True).stdout
    return base64.b64encode(sig).decode()


@pytest.mark.parametrize("method", ["glance-direct", "web-download"])
def test_openssl_cli_signature_goes_active(glance, conn, files, pki, data,
                                           tmp_path, method):
    key = signing.make_key("RSA-PSS", 3072)
    cert_id = issue(pki, "openssl-signer-%s" % method, key)
    props = signing.signed_properties(key, cert_id, data)
    props["img_signature"] = openssl_pss_sign(tmp_path, key, data)
    assert_active(glance, do_import(conn, files, props, data, method), data)


@pytest.mark.parametrize("key_type,hash_method", [
    ("RSA-PSS", "SHA-256"), ("RSA-PSS", "SHA-512"),
    ("ECC_SECP384R1", "SHA-384"), ("ECC_SECP521R1", "SHA-512"),
    ("DSA", "SHA-256")])
def test_cryptography_signatures_go_active(glance, conn, files, pki, data,
                                           key_type, hash_method):
    key = signing.make_key(key_type)
    cert_id = issue(pki, "signer-%s-%s" % (key_type, hash_method), key)
    props = signing.signed_properties(key, cert_id, data, key_type=key_type,
                                      hash_method=hash_method)
    image = do_import(conn, files, props, data, "glance-direct")
    assert_active(glance, image, data)


def test_glance_import_guard_sign_output_goes_active(glance, conn, files,
                                                     pki, data, tmp_path):
    key = signing.make_key("ECC_SECP384R1")
    cert_id = issue(pki, "cli-signer", key)
    key_file, image_file = tmp_path / "key.pem", tmp_path / "image.raw"
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    image_file.write_bytes(data)
    out = subprocess.run([CLI, "sign", str(image_file), "--key",
                          str(key_file), "--certificate-id", cert_id,
                          "--format", "shell"],
                         check=True, capture_output=True, text=True).stdout
    # What a user pastes after `openstack image create NAME`.
    words = shlex.split(out)
    props = dict(w.split("=", 1) for w in words[1::2])
    print("\n$ glance-import-guard sign image.raw --key key.pem "
          "--certificate-id %s --format shell\n%s" % (cert_id, out))
    assert_active(glance, do_import(conn, files, props, data,
                                    "glance-direct"), data)


def test_flipped_byte_is_refused(glance, conn, files, pki, data):
    key = signing.make_key("RSA-PSS")
    cert_id = issue(pki, "flip-signer", key)
    props = signing.signed_properties(key, cert_id, data, declare=None)
    tampered = bytearray(data)
    tampered[len(data) // 2] ^= 0x40
    image = do_import(conn, files, props, bytes(tampered), "glance-direct")
    assert_refused(glance, conn, image,
                   "img_signature does not match the image data",
                   "certificate flip-signer")


def test_another_keys_signature_is_refused(glance, conn, files, pki, data):
    key = signing.make_key("RSA-PSS")
    cert_id = issue(pki, "victim", key)
    props = signing.signed_properties(signing.make_key("RSA-PSS"), cert_id,
                                      data)
    image = do_import(conn, files, props, data, "web-download")
    assert_refused(glance, conn, image,
                   "img_signature does not match the image data")


def test_untrusted_certificate_is_refused(glance, conn, files, pki, data):
    key = signing.make_key("RSA-PSS")
    cert_id = issue(pki, "self-made", key, issuer=None)  # self-signed
    props = signing.signed_properties(key, cert_id, data)
    image = do_import(conn, files, props, data, "glance-direct")
    assert_refused(glance, conn, image,
                   "the signing certificate self-made is not trusted on "
                   "this cloud")


def test_expired_certificate_is_refused(glance, conn, files, pki, data):
    key = signing.make_key("RSA-PSS")
    cert_id = issue(pki, "expired", key, days=30, not_before=datetime.datetime(
        2024, 1, 1, tzinfo=datetime.timezone.utc))
    props = signing.signed_properties(key, cert_id, data)
    image = do_import(conn, files, props, data, "glance-direct")
    assert_refused(glance, conn, image,
                   "the signing certificate expired expired on Jan 31")


def test_certificate_of_a_pathlen_0_ca_goes_active(glance, conn, files, pki,
                                                   data):
    key = signing.make_key("ECC_SECP384R1")
    cert_id = issue(pki, "pathlen-0-signer", key,
                    issuer=pki[2]["cloud-ca-pathlen-0"])
    props = signing.signed_properties(key, cert_id, data,
                                      key_type="ECC_SECP384R1",
                                      hash_method="SHA-384")
    assert_active(glance, do_import(conn, files, props, data,
                                    "glance-direct"), data)


def test_certificate_below_a_pathlen_0_ca_is_refused(glance, conn, files,
                                                     pki, data):
    key = signing.make_key("RSA-PSS")
    cert_id = issue(pki, "too-deep", key,
                    issuer=pki[2]["intermediate-of-pathlen-0"])
    props = signing.signed_properties(key, cert_id, data)
    image = do_import(conn, files, props, data, "web-download")
    assert_refused(glance, conn, image,
                   "the signing certificate too-deep is not trusted on "
                   "this cloud", "'cloud-ca-pathlen-0' is not configured to "
                   "support certificate chains of sufficient length")
