"""The audit's key manager: signing certificates read with the operator's
credentials, and a verdict of their own when they cannot be read.

At import Glance reads a certificate with the importing user's token; the
audit has no user, and Glance's admin context carries no token, which
castellan's barbican backend refuses. The audit therefore reads
certificates with castellan's own credential options in ``[key_manager]``
(``auth_type = keystone_password`` and the user, password, project and
``auth_url``; castellan's ``credential_factory``), which glance-api itself
never reads. Other backends (``certificate_directory``, vault) need no
user: they get the admin context, as before.

Barbican 23's default policy lets a token read a secret's payload
(``secret:decrypt``) only in the secret's own project (member, or admin)
or through the secret's read ACL, so one set of credentials reads the
certificates of every project when each owner puts the audit's user in the
certificate's read ACL (README, "Audit what is already stored").

A certificate that cannot be read (no credentials, key manager down or
failing, forbidden, not found) says nothing about the image: it is
``certificate-unavailable`` with the reason, not ``signature-bad``. Each
certificate is read once per run.
"""

import threading

import requests
from castellan import key_manager
from castellan.common import exception as castellan_exception
from castellan.common import utils as castellan_utils
from cryptography import x509
from keystoneauth1 import exceptions as ks_exceptions

from glance_import_guard import signature

PROPERTY = signature.PROPERTY
KEYSTONE_AUTH_TYPES = ("keystone_password", "keystone_token")


class Unavailable(Exception):
    """A certificate the audit could not read: ``reason`` (no-credentials,
    unreachable, forbidden, unauthorized, not-found, error) and what to
    do."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = reason
        self.message = message


def is_barbican(conf):
    backend = (conf.key_manager.backend or "barbican").lower()
    return "barbican" in backend


def credentials(conf, admin):
    """What the audit passes to the key manager: castellan's credential
    from ``[key_manager] auth_type`` and its options; else, for Barbican,
    None (no credentials), for other backends the admin context.

    :raises ValueError: the credential options cannot be used (a
        configuration error)
    """
    conf.register_opts(key_manager.key_manager_opts,
                       group=castellan_utils.OPT_GROUP)
    conf.register_opts(castellan_utils.credential_opts,
                       group=castellan_utils.OPT_GROUP)
    try:
        auth_type = conf.key_manager.auth_type
    except ValueError as e:  # not one of castellan's choices
        raise ValueError("[key_manager] auth_type: %s" % e) from e
    if not auth_type:
        return None if is_barbican(conf) else admin
    if is_barbican(conf):
        if auth_type not in KEYSTONE_AUTH_TYPES:
            raise ValueError(
                "[key_manager] auth_type = %s: castellan's barbican backend "
                "takes only %s" % (auth_type, " or ".join(
                    KEYSTONE_AUTH_TYPES)))
        if not conf.key_manager.auth_url:
            raise ValueError("[key_manager] auth_type = %s needs "
                             "[key_manager] auth_url (Keystone)" % auth_type)
    try:
        return castellan_utils.credential_factory(conf=conf)
    except castellan_exception.CastellanException as e:
        raise ValueError("[key_manager] credentials: %s" % e) from e


def _statuses(error):
    """The HTTP statuses behind a castellan error (barbicanclient's
    ``status_code``, keystoneauth's ``http_status``), and whether a
    connection failed."""
    statuses, unreachable = [], False
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        status = (getattr(error, "status_code", None)
                  or getattr(error, "http_status", None))
        if status:
            statuses.append(status)
        if _is_connection_error(error):
            unreachable = True
        error = error.__cause__ or error.__context__
    return statuses, unreachable


def _is_connection_error(error):
    return isinstance(error, (ks_exceptions.ConnectionError,
                              ks_exceptions.EndpointNotFound,
                              requests.ConnectionError, ConnectionError))


def classify(cert_id, error):
    """The Unavailable for ``error``, raised by the key manager reading
    ``cert_id``."""
    what = "certificate %s (%s)" % (cert_id, PROPERTY)
    if isinstance(error, castellan_exception.ManagedObjectNotFoundError):
        return Unavailable("not-found", (
            "the key manager has no secret %s: it was deleted or never "
            "stored; the signature can no longer be checked" % cert_id))
    statuses, unreachable = _statuses(error)
    if 403 in statuses:
        return Unavailable("forbidden", (
            "the key manager refused to give %s to the audit's user "
            "([key_manager] username or user_id); the certificate's owner "
            "adds that user to the secret's read ACL" % what))
    if 401 in statuses:
        return Unavailable("unauthorized", (
            "Keystone or the key manager refused the audit's credentials "
            "([key_manager]) reading %s: %s" % (what, error)))
    if unreachable:
        return Unavailable("unreachable", (
            "the key manager did not answer reading %s (%s: %s); run the "
            "audit again when it is back" % (what, type(error).__name__,
                                             error)))
    status = next((s for s in statuses if s >= 500), None)
    if status:
        return Unavailable("unreachable", (
            "the key manager answered HTTP %s reading %s; run the audit "
            "again when it works" % (status, what)))
    return Unavailable("error", "reading %s failed: %s: %s" % (
        what, type(error).__name__, error))


class Certificates:
    """The signing certificates, read with the audit's credentials, each
    once per run (threads share it)."""

    def __init__(self, conf, admin):
        self.conf = conf
        self.context = credentials(conf, admin)
        self._cache = {}
        self._lock = threading.Lock()

    def fetch(self, cert_id):
        """``(certificate, None)``, or ``(None, problem message)`` for a
        secret that is not a usable certificate.

        :raises Unavailable: the certificate could not be read
        """
        with self._lock:
            if cert_id not in self._cache:
                try:
                    self._cache[cert_id] = self._fetch(cert_id)
                except Unavailable as e:
                    self._cache[cert_id] = e
            found = self._cache[cert_id]
        if isinstance(found, Unavailable):
            raise found
        return found

    def _fetch(self, cert_id):
        if self.context is None:
            raise Unavailable("no-credentials", (
                "the audit has no credentials for the key manager "
                "(Barbican) to read certificate %s (%s): set [key_manager] "
                "auth_type = keystone_password and its options" % (
                    cert_id, PROPERTY)))
        try:
            managed = key_manager.API(self.conf).get(self.context, cert_id)
        except Exception as e:
            raise classify(cert_id, e) from e
        if managed.format != "X.509":  # cursive's CERTIFICATE_FORMATS
            return None, (
                "the signing certificate %s (%s) cannot be used: that "
                "secret is not a certificate (it holds %s data)" % (
                    cert_id, PROPERTY, managed.format))
        try:
            return x509.load_der_x509_certificate(managed.get_encoded()), \
                None
        except ValueError as e:
            return None, (
                "the signing certificate %s (%s) cannot be used: it is not "
                "a valid X.509 certificate (%s)" % (cert_id, PROPERTY, e))

    def trusted(self, trusted_certificate_ids):
        """(id, DER) of each trusted certificate; one the key manager does
        not have, or that is not a certificate, is skipped (as cursive and
        the import skip it).

        :raises Unavailable: one could not be read otherwise
        """
        found = []
        for trusted_id in trusted_certificate_ids:
            try:
                certificate, _ = self.fetch(trusted_id)
            except Unavailable as e:
                if e.reason == "not-found":
                    continue
                raise Unavailable(e.reason, (
                    "the trust of the signing certificate could not be "
                    "checked: trusted certificate %s: %s" % (
                        trusted_id, e.message))) from e
            if certificate is not None:
                found.append((trusted_id, signature.der(certificate)))
        return found

    def verify(self, guard, sig, digest_hex, trusted_certificate_ids):
        """The findings ((verdict, message) pairs) of the signature
        ``sig`` (the plan's) over the digest: none when it verifies,
        ``certificate-unavailable`` when a certificate could not be read,
        else ``signature-bad`` for each problem."""
        cert_id = sig["certificate_id"]
        try:
            certificate, unusable = self.fetch(cert_id)
            if unusable:
                return [("signature-bad", unusable)]
            trusted = (self.trusted(trusted_certificate_ids)
                       if trusted_certificate_ids else None)
        except Unavailable as e:
            return [("certificate-unavailable",
                     "%s: %s" % (e.reason, e.message))]
        problems = signature.verify_signature(guard, certificate, sig,
                                              digest_hex, trusted)
        return [("signature-bad", p["message"]) for p in problems]
