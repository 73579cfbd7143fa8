"""A read-only castellan key manager serving certificates from a directory.

For small clouds without Barbican: the operator puts each signing
certificate in a directory as ``<id>.pem`` or ``<id>.der``, and users set
``img_signature_certificate_uuid = <id>``. Glance (through cursive) and the
guard then find the certificate as they would find it in Barbican.

Enable it in glance-api.conf::

    [key_manager]
    backend = certificate_directory

    [certificate_directory]
    path = /etc/glance/signing-certificates

Every authenticated user can read every certificate in the directory
(certificates are public); nothing can be stored or deleted through it.
"""

import os
import re

from castellan.common import exception
from castellan.common.objects import x_509
from castellan.key_manager import key_manager
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

GROUP = "certificate_directory"

certificate_directory_opts = [
    cfg.StrOpt(
        "path",
        help="""
Directory holding the certificates the ``certificate_directory`` key
manager serves.

Each file is one X.509 certificate named ``<id>.pem`` (PEM) or
``<id>.der`` (DER), where ``<id>`` is what users put in
``img_signature_certificate_uuid``. An id may use letters, digits, ``.``,
``_`` and ``-``, must start with a letter or digit, and is at most 255
characters long. The directory must be readable by glance-api.

Possible values:
    * An absolute path to a directory

Related options:
    * [key_manager] backend = certificate_directory
"""),
]

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}\Z")
_LOADERS = {
    ".pem": x509.load_pem_x509_certificate,
    ".der": x509.load_der_x509_certificate,
}


def list_opts():
    """The ``oslo.config.opts`` entry point."""
    return [(GROUP, certificate_directory_opts)]


class CertificateDirectoryKeyManager(key_manager.KeyManager):
    """Serves ``<path>/<id>.pem`` and ``<path>/<id>.der`` as certificates."""

    def __init__(self, configuration):
        self.conf = configuration or cfg.CONF
        self.conf.register_opts(certificate_directory_opts, group=GROUP)

    @property
    def _directory(self):
        path = self.conf[GROUP].path
        if not path:
            raise exception.KeyManagerError(
                reason="[%s] path is not set" % GROUP)
        return path

    def _files(self, managed_object_id):
        if not isinstance(managed_object_id, str) or not _ID.match(
                managed_object_id):
            # Not a name that can be in the directory, so not found.
            raise exception.ManagedObjectNotFoundError(
                uuid=managed_object_id)
        directory = self._directory
        return [(os.path.join(directory, managed_object_id + ext), loader)
                for ext, loader in _LOADERS.items()
                if os.path.isfile(os.path.join(directory,
                                               managed_object_id + ext))]

    def get(self, context, managed_object_id, metadata_only=False):
        """The certificate ``managed_object_id`` as a castellan X509.

        :raises ManagedObjectNotFoundError: no such certificate
        :raises KeyManagerError: unreadable, malformed or ambiguous file
        """
        files = self._files(managed_object_id)
        if not files:
            raise exception.ManagedObjectNotFoundError(uuid=managed_object_id)
        if len(files) > 1:
            raise exception.KeyManagerError(
                reason="certificate %s is ambiguous: both %s exist" % (
                    managed_object_id, " and ".join(p for p, _ in files)))
        [(path, loader)] = files
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            LOG.error("Cannot read certificate %s: %s", path, e)
            raise exception.KeyManagerError(
                reason="certificate %s cannot be read" % managed_object_id
            ) from e
        try:
            certificate = loader(data)
        except ValueError as e:
            LOG.error("Certificate file %s is not a valid X.509 "
                      "certificate: %s", path, e)
            raise exception.KeyManagerError(
                reason="certificate %s is not a valid X.509 certificate" %
                managed_object_id) from e
        der = certificate.public_bytes(serialization.Encoding.DER)
        return x_509.X509(
            None if metadata_only else der, name=managed_object_id,
            created=int(os.stat(path).st_mtime), id=managed_object_id)

    def list(self, context, object_type=None, metadata_only=False):
        if object_type not in (None, x_509.X509):
            return []
        names = sorted(os.listdir(self._directory))
        ids = [n[:-4] for n in names
               if n[-4:] in _LOADERS and _ID.match(n[:-4])]
        return [self.get(context, i, metadata_only) for i in ids]

    def _read_only(self, *args, **kwargs):
        raise exception.KeyManagerError(
            reason="the certificate_directory key manager is read-only; "
            "the operator adds certificates to [%s] path" % GROUP)

    create_key = _read_only
    create_key_pair = _read_only
    store = _read_only
    delete = _read_only

    def add_consumer(self, context, managed_object_id, consumer_data):
        """Consumers are not tracked: certificates are never deleted here."""

    def remove_consumer(self, context, managed_object_id, consumer_data):
        """Consumers are not tracked: certificates are never deleted here."""
