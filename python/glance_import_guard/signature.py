"""Verifies an image signature over a digest the core computed.

The certificate is obtained exactly as Glance obtains it (cursive's
``get_certificate``: castellan's key manager, with the request context),
its key is checked against ``img_signature_key_type`` as cursive checks it,
and the signature is verified with the primitive and parameters cursive
uses, over the digest instead of the data (``Prehashed``): RSA-PSS with
MGF1 of the image hash and salt length "max" (which at verify time accepts
any salt length), ECDSA, or DSA. The core then applies the stricter
certificate rules of the policy, and trust is checked as Nova checks it
(the core's ``check_trust``, with the semantics of cursive 0.3.1's
``verify_certificate``; cursive before 0.3.1, which every release's
upper-constraints pin, raises ``TypeError`` on a CA without a path length,
so it is not called).
"""

from cryptography import exceptions as crypto_exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cursive import exception as cursive_exception
from cursive import signature_utils
from oslo_log import log as logging

from glance_import_guard import _core

problem = _core.problem

LOG = logging.getLogger(__name__)


def _reason(error):
    """cursive's own words for a SignatureVerificationError."""
    return (getattr(error, "kwargs", {}).get("reason")
            or str(error)).rstrip(".")


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


def certificate_of(context, guard, signature, trusted_certificate_ids):
    """The signing certificate from the key manager (as Glance gets it,
    with the request context) and the problems it has before any data is
    read. Returns ``(certificate or None, problems)``."""
    cert_id = signature["certificate_id"]
    try:
        certificate = signature_utils.get_certificate(context, cert_id)
    except cursive_exception.SignatureVerificationError as e:
        return None, [problem(
            "certificate-unusable",
            "the signing certificate %s cannot be used: %s" % (
                cert_id, _reason(e)))]
    except Exception:
        LOG.exception("import_guard could not retrieve certificate %s",
                      cert_id)
        return None, [problem(
            "certificate-unusable",
            "the signing certificate %s could not be retrieved from the key "
            "manager; try again later or ask the cloud operator" % cert_id)]
    trusted = None
    if trusted_certificate_ids:
        trusted = _trusted_certificates(context, trusted_certificate_ids)
        if trusted is None:
            return None, [problem(
                "certificate-untrusted",
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
        try:
            trusted.append((trusted_id, der(
                signature_utils.get_certificate(context, trusted_id))))
        except cursive_exception.SignatureVerificationError as e:
            LOG.warning("import_guard skips trusted certificate %s: %s",
                        trusted_id, _reason(e))
        except Exception:
            LOG.exception("import_guard could not retrieve trusted "
                          "certificate %s", trusted_id)
            return None
    return trusted


def der(certificate):
    """A ``cryptography`` certificate as DER, what the core reads."""
    return certificate.public_bytes(serialization.Encoding.DER)
