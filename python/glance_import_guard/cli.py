"""``glance-import-guard``: sign an image, or see what the guard would decide.

    glance-import-guard sign IMAGE --key KEY.pem --certificate-id ID
    glance-import-guard check IMAGE --property k=v ... [--certificate CERT]
    glance-import-guard doctor [--config-dir DIR] [--nova-config FILE]
    glance-import-guard audit --config-dir DIR [--project ID] [--image ID ...]
    glance-import-guard --version

``sign`` reads the image once (the core's one pass), signs the digest with
the key, and prints every property the guard needs as ``--property k=v``
arguments for ``openstack image create`` (or as JSON). ``check`` runs every
rule of the guard offline on a file and a set of properties and, given the
signing certificate, verifies the signature as the guard would.
``doctor`` reads a glance-api configuration and tells which doors let an
unsigned image become active (see ``doctor/``). ``audit`` checks the
images already in the stores (see ``audit.py``).
"""

import argparse
import base64
import json
import shlex
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cursive import signature_utils
from oslo_config import cfg

from glance_import_guard import __version__, _core, decision, opts, signature

EXIT_ACCEPT, EXIT_REFUSE, EXIT_USAGE = 0, 1, 2
CURVE_KEY_TYPES = {"secp384r1": ("ECC_SECP384R1", "SHA-384"),
                   "secp521r1": ("ECC_SECP521R1", "SHA-512")}


class UsageError(Exception):
    """Bad input from the user: printed, exit status 2."""


def open_or_fail(path, what):
    try:
        return open(path, "rb")
    except OSError as e:
        raise UsageError("cannot read %s %s: %s" % (
            what, path, e.strerror)) from e


def _read(path, what):
    try:
        with open_or_fail(path, what) as f:
            return f.read()
    except OSError as e:
        raise UsageError("cannot read %s %s: %s" % (
            what, path, e.strerror)) from e


def load_private_key(path, password=None):
    data = _read(path, "key")
    try:
        return serialization.load_pem_private_key(
            data, password.encode() if password else None)
    except (ValueError, TypeError) as e:
        raise UsageError("%s is not a usable PEM private key: %s" % (
            path, e)) from e


def load_certificate(path):
    data = _read(path, "certificate")
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise UsageError("%s is not an X.509 certificate: %s" % (
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


def load_conf(config_file):
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf([], project="glance", default_config_files=(
        [config_file] if config_file else []))
    return conf


def cmd_sign(args):
    password = None
    if args.key_password_file:
        password = _read(args.key_password_file, "password file").decode(
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
    else:
        print(" ".join("--property %s" % shlex.quote("%s=%s" % kv)
                       for kv in properties.items()))
    return EXIT_ACCEPT


def parse_properties(pairs, json_file):
    properties = {}
    if json_file:
        try:
            properties.update(json.loads(_read(json_file, "properties")))
        except ValueError as e:
            raise UsageError("%s is not a JSON object: %s" % (
                json_file, e)) from e
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise UsageError("--property takes NAME=VALUE, not %r" % pair)
        properties[name] = value
    return {str(k): str(v) for k, v in properties.items()}


def cmd_check(args):
    with open_or_fail(args.image, "image"):
        pass  # fail early, with a usage error, on an unreadable image
    conf = load_conf(args.config_file)
    try:
        guard = opts.guard(conf)
    except _core.PolicyError as e:
        raise UsageError(str(e)) from e
    properties = parse_properties(args.property, args.properties_json)
    certificate = (load_certificate(args.certificate)
                   if args.certificate else None)
    trusted = [(path, signature.der(load_certificate(path)))
               for path in args.trusted_certificate or []] or None
    notes = []
    if trusted is None and conf.import_guard.trusted_certificate_ids:
        notes.append("the chain to trusted_certificate_ids was not checked: "
                     "give the CA certificates with --trusted-certificate")

    def verify_signature(sig, digest_hex):
        if certificate is None:
            notes.append("the signature was not verified: give the signing "
                         "certificate with --certificate")
            return []
        return signature.verify_signature(guard, certificate, sig,
                                          digest_hex, trusted)

    problems, plan, result = decision.decide(
        guard, properties, args.image,
        args.roles.split(",") if args.roles else [], verify_signature)
    accepted = not problems
    if args.format == "json":
        print(json.dumps({
            "accepted": accepted, "problems": problems, "notes": notes,
            "digests": result["digests"] if result else {}},
            indent=2, sort_keys=True))
    else:
        if accepted:
            print("ACCEPT: the guard would import %s" % args.image)
        else:
            print("REFUSE: " + _core.refusal_message(args.image, problems))
        for note in notes:
            print("note: " + note)
        if result:
            for name, value in sorted(result["digests"].items()):
                print("%s: %s" % (name, value))
    return EXIT_ACCEPT if accepted else EXIT_REFUSE


def cmd_audit(args):
    from glance_import_guard import audit  # imports Glance: only here
    try:
        return audit.run(args.config_dir, args.project, args.image or (),
                         args.format, args.resume, args.parallel)
    except audit.ConfigError as e:
        raise UsageError(str(e)) from None


def cmd_doctor(args):
    from glance_import_guard import doctor  # imports Glance: only here
    try:
        return doctor.run(args.config_dir, args.nova_config, args.format)
    except doctor.ConfigError as e:
        raise UsageError(str(e)) from e


def parser():
    p = argparse.ArgumentParser(
        prog="glance-import-guard",
        description="Sign images for Glance's import guard, or check offline "
                    "what the guard would decide.")
    p.add_argument("--version", action="version",
                   version="%(prog)s " + __version__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "sign", help="sign an image file and print its properties",
        description="Reads IMAGE once, signs it with KEY and prints the "
                    "properties for `openstack image create`.")
    s.add_argument("image", help="the image file")
    s.add_argument("--key", required=True,
                   help="PEM private key (RSA, DSA, or EC on P-384/P-521)")
    s.add_argument("--key-password-file",
                   help="a file holding the key's password, if it has one")
    s.add_argument("--certificate-id", required=True,
                   help="the signing certificate's id in the key manager")
    s.add_argument("--hash-method", choices=sorted(
        signature_utils.HASH_METHODS),
        help="signature hash (default: SHA-256; SHA-384 for P-384 keys, "
             "SHA-512 for P-521 keys)")
    s.add_argument("--declare", default="sha512", type=str.lower,
                   choices=_core.algorithms() + [""],
                   help="declared digest algorithm (default: sha512; '' for "
                        "none)")
    s.add_argument("--hash-algo-property", default="img_hash_algo")
    s.add_argument("--hash-value-property", default="img_hash_value")
    s.add_argument("--format", choices=("args", "json"), default="args",
                   help="`--property k=v` arguments (default) or JSON")
    s.set_defaults(func=cmd_sign)

    c = sub.add_parser(
        "check", help="run the guard's rules offline",
        description="Runs every rule of the guard on IMAGE and its "
                    "properties; exit status 0 if it would import it, 1 if "
                    "not, 2 on bad input.")
    c.add_argument("image", help="the image file")
    c.add_argument("--property", action="append", metavar="NAME=VALUE",
                   help="an image property (repeat for each)")
    c.add_argument("--properties-json", metavar="FILE",
                   help="image properties as a JSON object")
    c.add_argument("--certificate",
                   help="the signing certificate (PEM or DER), to verify "
                        "the signature")
    c.add_argument("--trusted-certificate", action="append",
                   metavar="CERT",
                   help="a CA certificate the signing certificate must "
                        "chain to, as with trusted_certificate_ids (repeat "
                        "for each; intermediates too)")
    c.add_argument("--config-file",
                   help="a glance-api.conf whose [import_guard] to apply "
                        "(default: the guard's defaults)")
    c.add_argument("--roles", help="comma-separated roles of the importer")
    c.add_argument("--format", choices=("text", "json"), default="text")
    c.set_defaults(func=cmd_check)

    d = sub.add_parser(
        "doctor", help="tell which doors of a Glance deployment let "
                       "unsigned images in",
        description="Reads glance-api's configuration, paste pipeline and "
                    "policy and prints, for each way image data gets in, "
                    "whether it is closed, open or needs a look; exit "
                    "status 0 if every door is closed for callers who are "
                    "not exempt, 1 if not, 2 on bad input.")
    d.add_argument("--config-dir", default="/etc/glance",
                   help="glance-api's configuration directory (default: "
                        "/etc/glance)")
    d.add_argument("--nova-config", metavar="FILE",
                   help="nova.conf, to check Nova's signature and service "
                        "token settings too")
    d.add_argument("--format", choices=("text", "json"), default="text")
    d.set_defaults(func=cmd_doctor)

    a = sub.add_parser(
        "audit", help="check the images already in the stores",
        description="Reads every location of each active image through "
                    "glance_store with glance-api's configuration, checks "
                    "its bytes against os_hash_value, checksum and size "
                    "and its signature, and prints a verdict per image and "
                    "location. Read-only. Exit status 1 if any is "
                    "mismatch, size-mismatch or signature-bad, 2 on bad "
                    "input, 0 otherwise.")
    a.add_argument("--config-dir", required=True,
                   help="the folder of glance-api.conf")
    a.add_argument("--project", help="only this project's images")
    a.add_argument("--image", action="append", metavar="ID",
                   help="only this image (repeat for each)")
    a.add_argument("--format", choices=("table", "json"), default="table",
                   help="a table, or one JSON object per line")
    a.add_argument("--resume", metavar="FILE",
                   help="record each result in FILE and skip what a "
                        "stopped run already recorded there")
    a.add_argument("--parallel", type=int, default=2,
                   help="locations read at once (default: 2)")
    a.set_defaults(func=cmd_audit)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print("glance-import-guard: error: %s" % e, file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
