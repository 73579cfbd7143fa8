"""``glance-import-guard check``: runs every rule of the guard offline on
an image file and a set of properties, with the ``[import_guard]`` options
of a configuration (or the guard's defaults), and prints what the guard
would decide.

The decision is ``decision.decide``'s, the one the guard itself makes;
given the signing certificate, the signature is verified by
``signature.py`` as the guard would (``sign.py`` is the signer's side).
"""

import json

from cryptography import x509
from oslo_config import cfg

from glance_import_guard import (
    _core,
    config_args,
    decision,
    opts,
    policies,
    signature,
)
from glance_import_guard.usage import (
    EXIT_ACCEPT,
    EXIT_REFUSE,
    UsageError,
    open_or_fail,
    read_file,
)


def load_certificate(path):
    """An X.509 certificate from a PEM or DER file."""
    data = read_file(path, "certificate")
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as e:
        raise UsageError("%s is not an X.509 certificate: %s" % (
            path, e)) from e


def load_conf(oslo_args):
    """The guard's options from oslo.config's --config-file/--config-dir
    arguments; none: the guard's defaults."""
    conf = cfg.ConfigOpts()
    opts.register(conf)
    try:
        config_args.parse(conf, oslo_args, defaults=False)
    except cfg.Error as e:
        raise UsageError("cannot read the configuration: %s" % e) from e
    return conf


def parse_properties(pairs, json_file):
    """{name: value} of --properties-json's object, then each --property
    NAME=VALUE over it; every value a string."""
    properties = {}
    if json_file:
        try:
            properties.update(json.loads(read_file(json_file, "properties")))
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
    """The ``check`` subcommand, on ``cli.parser()``'s arguments."""
    with open_or_fail(args.image, "image"):
        pass  # fail early, with a usage error, on an unreadable image
    conf = load_conf(args.oslo_args)
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
        bool(policies.importer_exemption(conf, (args.roles or "").split(
            ","))), verify_signature)
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
