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
from glance_import_guard.decision import problem

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


def verify(context, signature, digest_hex, policy, trusted_certificate_ids):
    """Everything about the signature of an import: the certificate from
    the key manager, the policy's certificate rules, the signature itself
    and, if ``trusted_certificate_ids``, the certificate's chain of trust.
    Returns every problem; empty when the signature is good."""
    cert_id = signature["certificate_id"]
    try:
        certificate = signature_utils.get_certificate(context, cert_id)
    except cursive_exception.SignatureVerificationError as e:
        return [problem("certificate-unusable",
                         "the signing certificate %s cannot be used: %s" % (
                             cert_id, _reason(e)))]
    except Exception:
        LOG.exception("import_guard could not retrieve certificate %s",
                      cert_id)
        return [problem(
            "certificate-unusable",
            "the signing certificate %s could not be retrieved from the key "
            "manager; try again later or ask the cloud operator" % cert_id)]

    problems = _core.check_certificate(der(certificate), signature, policy)
    problems += verify_with_certificate(certificate, signature, digest_hex)
    if trusted_certificate_ids:
        problems += check_trust(context, certificate, cert_id,
                                trusted_certificate_ids)
    return problems


def check_trust(context, certificate, cert_id, trusted_certificate_ids):
    """The problems of ``certificate``'s chain to the trusted certificates
    (key-manager ids). A trusted certificate the key manager does not have
    is skipped, as cursive skips it; one it cannot serve now makes the
    import retryable later rather than untrusted."""
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
            return [problem(
                "certificate-untrusted",
                "the trust of signing certificate %s could not be checked: "
                "the cloud's trusted certificates could not be retrieved "
                "from the key manager; try again later or ask the cloud "
                "operator" % cert_id)]
    return _core.check_trust(der(certificate), cert_id, trusted)


def der(certificate):
    """A ``cryptography`` certificate as DER, what the core reads."""
    return certificate.public_bytes(serialization.Encoding.DER)
