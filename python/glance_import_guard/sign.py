"""``glance-import-guard sign``: signs an image file the way Glance
verifies signatures, and prints the properties the guard needs.

Loading the signing key, choosing ``img_signature_key_type`` and the hash
method from it, and signing the image's digest (read in the core's one
pass) live here. This is the signer's side only: verifying a signature, as
the guard and ``glance-import-guard check`` do, is ``signature.py``'s.
"""

import base64
import json
import shlex

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cursive import signature_utils

from glance_import_guard import _core
from glance_import_guard.usage import EXIT_ACCEPT, UsageError, read_file

CURVE_KEY_TYPES = {"secp384r1": ("ECC_SECP384R1", "SHA-384"),
                   "secp521r1": ("ECC_SECP521R1", "SHA-512")}


def load_private_key(path, password=None):
    data = read_file(path, "key")
    try:
        return serialization.load_pem_private_key(
            data, password.encode() if password else None)
    except (ValueError, TypeError) as e:
        raise UsageError("%s is not a usable PEM private key: %s" % (
            path, e)) from e


def key_type_of(key):
    """(img_signature_key_type, its natural hash method) for a key."""
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA-PSS", "SHA-256"
    if isinstance(key, dsa.DSAPrivateKey):
        return "DSA", "SHA-256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name in CURVE_KEY_TYPES:
            return CURVE_KEY_TYPES[key.curve.name]
        raise UsageError(
            "Glance verifies EC signatures only on P-384 and P-521; this "
            "key is on %s" % key.curve.name)
    raise UsageError("Glance cannot verify signatures of %s keys" %
                     type(key).__name__)


def sign_digest(key, digest, hash_method):
    """Signs a digest the way Glance verifies it (RSA-PSS with MGF1 of the
    hash and a digest-length salt; ECDSA; DSA)."""
    algorithm = signature_utils.HASH_METHODS[hash_method]
    prehashed = asym_utils.Prehashed(algorithm)
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PSS(
            mgf=padding.MGF1(algorithm),
            salt_length=padding.PSS.DIGEST_LENGTH), prehashed)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(digest, ec.ECDSA(prehashed))
    return key.sign(digest, prehashed)


def cmd_sign(args):
    """The ``sign`` subcommand, on ``cli.parser()``'s arguments."""
    password = None
    if args.key_password_file:
        password = read_file(args.key_password_file, "password file").decode(
        ).rstrip("\n")
    key = load_private_key(args.key, password)
    key_type, natural_hash = key_type_of(key)
    hash_method = args.hash_method or natural_hash
    sig_algorithm = _core.signature_hash_methods()[hash_method]
    wanted = [sig_algorithm] + ([args.declare] if args.declare else [])
    try:
        digests = _core.hash_file(args.image, wanted)
    except (_core.StagedFileError, ValueError) as e:
        raise UsageError(
            str(e).replace("staged file", "image file")) from e
    properties = {
        "img_signature": base64.b64encode(sign_digest(
            key, bytes.fromhex(digests[sig_algorithm]), hash_method)
        ).decode(),
        "img_signature_hash_method": hash_method,
        "img_signature_key_type": key_type,
        "img_signature_certificate_uuid": args.certificate_id,
    }
    if args.declare:
        algorithm = args.declare.lower()
        properties[args.hash_algo_property] = algorithm
        properties[args.hash_value_property] = digests[algorithm]
    if args.format == "json":
        print(json.dumps(properties, indent=2, sort_keys=True))
    elif args.format == "shell":
        print(" ".join("--property %s" % shlex.quote("%s=%s" % kv)
                       for kv in properties.items()))
    else:
        width = max(len(k) for k in properties)
        print("%-*s  %s" % (width, "property", "value"))
        for kv in properties.items():
            print("%-*s  %s" % (width, *kv))
    return EXIT_ACCEPT
