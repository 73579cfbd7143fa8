"""The certificate_directory castellan backend, loaded the way Glance and
cursive load key managers (castellan's key_manager.API, via stevedore)."""

import pytest
from castellan import key_manager
from castellan.common import exception
from castellan.common.objects import x_509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from oslo_config import cfg

from glance_import_guard.keymanager import CertificateDirectoryKeyManager
from support import signing


@pytest.fixture
def cert_dir(tmp_path):
    return tmp_path / "certs"


@pytest.fixture
def manager(cert_dir):
    conf = cfg.ConfigOpts()
    conf([])
    conf.register_opts(key_manager.key_manager_opts, group="key_manager")
    conf.set_override("backend", "certificate_directory",
                      group="key_manager")
    km = key_manager.API(conf)
    conf.set_override("path", str(cert_dir), group="certificate_directory")
    return km


@pytest.fixture
def certificate():
    return signing.make_certificate(signing.make_key("ECC_SECP384R1"))


def der(certificate):
    return certificate.public_bytes(serialization.Encoding.DER)


def test_castellan_loads_it_by_name(manager):
    assert isinstance(manager, CertificateDirectoryKeyManager)


@pytest.mark.parametrize("pem", [True, False], ids=["pem", "der"])
def test_serves_pem_and_der_as_der_x509(manager, cert_dir, certificate,
                                        pem):
    signing.install_certificate(cert_dir, "signer-1", certificate, pem=pem)
    got = manager.get(None, "signer-1")
    assert isinstance(got, x_509.X509)
    assert got.format == "X.509"
    assert got.get_encoded() == der(certificate)
    assert x509.load_der_x509_certificate(got.get_encoded()) == certificate


def test_cursive_gets_the_public_key_through_it(manager, cert_dir,
                                                certificate, monkeypatch):
    from cursive import signature_utils
    signing.install_certificate(cert_dir, "signer-1", certificate)
    monkeypatch.setattr(signature_utils.key_manager, "API", lambda: manager)
    key = signature_utils.get_public_key(
        None, "signer-1",
        signature_utils.SignatureKeyType.lookup("ECC_SECP384R1"))
    assert key.public_numbers() == certificate.public_key().public_numbers()


@pytest.mark.parametrize("bad_id", [
    "missing", "../certs/signer-1", "certs/../signer-1", "/etc/passwd",
    ".signer-1", "", "a" * 256, "signer 1", "signer-1\n", "signer-1.pem"])
def test_unknown_or_unsafe_ids_are_not_found(manager, cert_dir, certificate,
                                             bad_id):
    signing.install_certificate(cert_dir, "signer-1", certificate)
    with pytest.raises(exception.ManagedObjectNotFoundError):
        manager.get(None, bad_id)


def test_malformed_file_is_a_key_manager_error(manager, cert_dir):
    cert_dir.mkdir()
    (cert_dir / "broken.pem").write_text("not a certificate")
    with pytest.raises(exception.KeyManagerError,
                       match="broken is not a valid X.509 certificate"):
        manager.get(None, "broken")


def test_both_formats_for_one_id_is_ambiguous(manager, cert_dir,
                                              certificate):
    signing.install_certificate(cert_dir, "twice", certificate, pem=True)
    signing.install_certificate(cert_dir, "twice", certificate, pem=False)
    with pytest.raises(exception.KeyManagerError, match="ambiguous"):
        manager.get(None, "twice")


def test_unset_path_is_a_clear_error(cert_dir):
    km = CertificateDirectoryKeyManager(cfg.ConfigOpts())
    with pytest.raises(exception.KeyManagerError, match="path is not set"):
        km.get(None, "signer-1")


def test_read_only(manager, certificate):
    for call in (lambda: manager.store(None, x_509.X509(der(certificate))),
                 lambda: manager.delete(None, "signer-1"),
                 lambda: manager.create_key(None, "AES", 256),
                 lambda: manager.create_key_pair(None, "RSA", 2048)):
        with pytest.raises(exception.KeyManagerError, match="read-only"):
            call()


def test_list(manager, cert_dir, certificate):
    signing.install_certificate(cert_dir, "b", certificate, pem=False)
    signing.install_certificate(cert_dir, "a", certificate)
    (cert_dir / "notes.txt").write_text("ignored")
    assert [c.id for c in manager.list(None)] == ["a", "b"]
