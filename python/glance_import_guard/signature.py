"""Verifies an image signature over a digest the core computed.

The certificate is obtained as Glance obtains it (castellan's key manager,
with the request context, as cursive's ``get_certificate`` does), telling
the user which of its failures it was: a later try can mend a key manager
that did not answer, not a missing secret. Its key is checked against
``img_signature_key_type`` as cursive checks it, and the signature is
verified with the primitive and parameters cursive uses, over the digest
instead of the data (``Prehashed``): RSA-PSS with MGF1 of the image hash
and salt length "max" (which at verify time accepts any salt length),
ECDSA, or DSA. The core then applies the stricter certificate rules of the
policy, and trust is checked as Nova checks it (the core's ``check_trust``,
with the semantics of cursive 0.3.1's ``verify_certificate``; cursive
before 0.3.1, which every release's upper-constraints pin, raises
``TypeError`` on a CA without a path length, so it is not called).
"""

from castellan import key_manager
from castellan.common import exception as castellan_exception
from cryptography import exceptions as crypto_exceptions
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cursive import signature_utils
from oslo_config import cfg
from oslo_log import log as logging

from glance_import_guard import _core

problem = _core.problem

LOG = logging.getLogger(__name__)


def verify_with_certificate(certificate, signature, digest_hex):
    """Verifies ``signature`` (the plan's ``Signature``) over the digest
    with the key of ``certificate`` (a ``cryptography`` certificate), as
    cursive would. Returns the problems; empty if it verifies."""
    cert_id = signature["certificate_id"]
    public_key = certificate.public_key()
    key_type = signature_utils.SignatureKeyType.lookup(signature["key_type"])
    if not isinstance(public_key, key_type.public_key_type):
        # cursive.signature_utils.get_public_key's check and words.
        return [problem(
            "certificate-unusable",
            "the signing certificate %s cannot be used: Invalid public key "
            "type for signature key type: %s" % (cert_id, key_type.name))]
    algorithm = signature_utils.HASH_METHODS[signature["hash_method"]]
    prehashed = asym_utils.Prehashed(algorithm)
    digest = bytes.fromhex(digest_hex)
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(
                signature["signature"], digest,
                padding.PSS(mgf=padding.MGF1(algorithm),
                            salt_length=padding.PSS.MAX_LENGTH),
                prehashed)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature["signature"], digest,
                              ec.ECDSA(prehashed))
        elif isinstance(public_key, dsa.DSAPublicKey):
            public_key.verify(signature["signature"], digest, prehashed)
        else:  # no registered key type admits another key
            return [problem(
                "certificate-unusable",
                "certificate %s holds a key the guard cannot verify" %
                cert_id)]
    except crypto_exceptions.InvalidSignature:
        return [problem(
            "signature-mismatch",
            "img_signature does not match the image data: it was not made "
            "over these bytes with the key of certificate %s (%s, %s)" % (
                cert_id, signature["key_type"], signature["hash_method"]))]
    return []


def certificate_problems(guard, certificate, signature, trusted):
    """What is wrong with the signing certificate (a ``cryptography``
    certificate) before any data is read: the policy's certificate rules
    and, given the trusted certificates ((id, DER) pairs; None: not
    checked), the chain of trust."""
    problems = guard.check_certificate(der(certificate), signature)
    if trusted is not None:
        problems += guard.check_trust(der(certificate),
                                      signature["certificate_id"], trusted)
    return problems


def verify_signature(guard, certificate, signature, digest_hex, trusted):
    """Everything about a signature, given its certificate and the trusted
    certificates (None: trust is not checked). Returns every problem."""
    return (certificate_problems(guard, certificate, signature, trusted)
            + verify_with_certificate(certificate, signature, digest_hex))


PROPERTY = "img_signature_certificate_uuid"


class _Unavailable(Exception):
    """The key manager did not answer (down, or failing): a later try may
    succeed."""


def _http_status(error):
    """The HTTP status behind a castellan error, if there is one (castellan
    raises KeyManagerError from barbicanclient's HTTP errors)."""
    while error is not None:
        status = getattr(error, "status_code", None)
        if status:
            return status
        error = error.__cause__ or error.__context__
    return None


def fetch_certificate(context, cert_id):
    """The certificate ``cert_id`` from the key manager, as a
    ``cryptography`` certificate, with the request context (what cursive's
    ``get_certificate`` does, telling apart what it lumps together: a
    missing secret, one the project may not read, one that is not a
    certificate, and a key manager that did not answer).

    Returns ``(certificate, None)`` or ``(None, problem)``."""
    try:
        managed = key_manager.API(cfg.CONF).get(context, cert_id)
    except castellan_exception.ManagedObjectNotFoundError:
        return None, problem(
            "certificate-unusable",
            "the signing certificate %s (%s) cannot be used: the key "
            "manager has no secret with this id" % (cert_id, PROPERTY),
            property=PROPERTY)
    except (castellan_exception.KeyManagerError,
            castellan_exception.Forbidden) as e:
        status = _http_status(e)
        if status in (401, 403):
            return None, problem(
                "certificate-unusable",
                "the signing certificate %s (%s) cannot be used: this "
                "project may not read that secret in the key manager" % (
                    cert_id, PROPERTY), property=PROPERTY)
        LOG.warning("import_guard could not retrieve certificate %s from "
                    "the key manager: %s", cert_id, e)
        return None, _unavailable(cert_id, status)
    except Exception as e:
        # barbicanclient lets keystoneauth's connection errors through.
        LOG.warning("import_guard could not retrieve certificate %s from "
                    "the key manager: %s: %s", cert_id, type(e).__name__, e)
        return None, _unavailable(cert_id, None)
    if managed.format != "X.509":  # cursive's CERTIFICATE_FORMATS
        return None, problem(
            "certificate-unusable",
            "the signing certificate %s (%s) cannot be used: that secret "
            "is not a certificate (it holds %s data)" % (
                cert_id, PROPERTY, managed.format), property=PROPERTY)
    try:
        certificate = x509.load_der_x509_certificate(managed.get_encoded())
    except ValueError as e:
        return None, problem(
            "certificate-unusable",
            "the signing certificate %s (%s) cannot be used: it is not a "
            "valid X.509 certificate (%s)" % (cert_id, PROPERTY, e),
            property=PROPERTY)
    return certificate, None


def _unavailable(cert_id, status):
    why = "answered HTTP %s" % status if status else "did not answer"
    return problem(
        "certificate-unavailable",
        "the signing certificate %s (%s) could not be retrieved: the key "
        "manager %s; try again later, and if this persists ask the cloud "
        "operator" % (cert_id, PROPERTY, why), property=PROPERTY)


def certificate_of(context, guard, signature, trusted_certificate_ids):
    """The signing certificate from the key manager (as Glance gets it,
    with the request context) and the problems it has before any data is
    read. Returns ``(certificate or None, problems)``."""
    cert_id = signature["certificate_id"]
    certificate, fault = fetch_certificate(context, cert_id)
    if fault:
        return None, [fault]
    trusted = None
    if trusted_certificate_ids:
        trusted = _trusted_certificates(context, trusted_certificate_ids)
        if trusted is None:
            return None, [problem(
                "certificate-unavailable",
                "the trust of signing certificate %s could not be checked: "
                "the cloud's trusted certificates could not be retrieved "
                "from the key manager; try again later or ask the cloud "
                "operator" % cert_id)]
    return certificate, certificate_problems(guard, certificate, signature,
                                             trusted)


def verify(context, guard, signature, digest_hex, trusted_certificate_ids):
    """Everything about the signature of an import, with the certificates
    from the key manager. Returns every problem; empty when it is good."""
    certificate, problems = certificate_of(context, guard, signature,
                                           trusted_certificate_ids)
    if certificate is not None:
        problems += verify_with_certificate(certificate, signature,
                                            digest_hex)
    return problems


def _trusted_certificates(context, trusted_certificate_ids):
    """(id, DER) of each trusted certificate the key manager has; one it
    does not have is skipped, as cursive skips it. None when the key
    manager fails otherwise (the import is then retryable later, not
    untrusted)."""
    trusted = []
    for trusted_id in trusted_certificate_ids:
        certificate, fault = fetch_certificate(context, trusted_id)
        if certificate is not None:
            trusted.append((trusted_id, der(certificate)))
        elif fault["code"] == "certificate-unavailable":
            return None
        else:
            LOG.warning("import_guard skips trusted certificate %s: %s",
                        trusted_id, fault["message"])
    return trusted


def der(certificate):
    """A ``cryptography`` certificate as DER, what the core reads."""
    return certificate.public_bytes(serialization.Encoding.DER)
