"""Verifies an image signature over a digest the core computed.

The public key is obtained exactly as Glance obtains it (cursive's
certificate retrieval through castellan's key manager, with the request
context, and cursive's key-type check), and the signature is verified with
the primitive and parameters cursive uses, over the digest instead of the
data (``Prehashed``): RSA-PSS with MGF1 of the image hash and salt length
"max" (which at verify time accepts any salt length), ECDSA, or DSA.
"""

from cryptography import exceptions as crypto_exceptions
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cursive import exception as cursive_exception
from cursive import signature_utils
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


def _problem(code, message):
    return {"code": code, "property": None, "message": message}


def verify(context, signature, digest_hex):
    """Checks ``signature`` (the plan's ``Signature``) against the data's
    digest. Returns the problems (``_core.Problem``); empty if it verifies."""
    cert_id = signature["certificate_id"]
    try:
        key_type = signature_utils.SignatureKeyType.lookup(
            signature["key_type"])
        public_key = signature_utils.get_public_key(
            context, cert_id, key_type)
    except cursive_exception.SignatureVerificationError as e:
        reason = getattr(e, "kwargs", {}).get("reason") or str(e)
        return [_problem("certificate-unusable",
                         "the signing certificate %s cannot be used: %s" % (
                             cert_id, reason))]
    except Exception:
        LOG.exception("import_guard could not retrieve certificate %s",
                      cert_id)
        return [_problem(
            "certificate-unusable",
            "the signing certificate %s could not be retrieved from the key "
            "manager; try again later or ask the cloud operator" % cert_id)]

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
        else:  # cursive's key-type check admits no other key
            return [_problem("certificate-unusable",
                             "certificate %s holds a key type the guard "
                             "cannot verify" % cert_id)]
    except crypto_exceptions.InvalidSignature:
        return [_problem(
            "signature-mismatch",
            "img_signature does not match the image data: it was not made "
            "over these bytes with the key of certificate %s (%s, %s)" % (
                cert_id, signature["key_type"], signature["hash_method"]))]
    return []
