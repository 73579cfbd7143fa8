"""``glance-import-guard``: sign an image, or see what the guard would decide.

    glance-import-guard sign IMAGE --key KEY.pem --certificate-id ID
        [--format table|json|shell]
    glance-import-guard check IMAGE --property k=v ... [--certificate CERT]
        [--config-file PATH ...] [--config-dir DIR ...] [--format table|json]
    glance-import-guard doctor [--config-file PATH ...] [--config-dir DIR ...]
        [--nova-config FILE] [--glance-user USER] [--format table|json]
    glance-import-guard audit [--config-file PATH ...] [--config-dir DIR ...]
        [--project ID] [--image ID ...] [--format table|json|json-lines]
    glance-import-guard --version

One vocabulary: ``--format`` is ``table`` (the default, for people) or
``json`` (one JSON document); ``sign`` adds ``shell`` (``--property k=v``
arguments for ``openstack image create``) and ``audit`` ``json-lines``.
``--config-file`` and ``--config-dir`` are oslo.config's, and default to
the files glance-api reads (``config_args``). The exit codes are one table,
``EXIT_CODES``, printed by ``--help``.

``sign`` reads the image once (the core's one pass), signs the digest with
the key, and prints every property the guard needs (a table, JSON, or
``--property k=v`` arguments for ``openstack image create``). ``check``
runs every rule of the guard offline on a file and a set of properties
and, given the signing certificate, verifies the signature as the guard
would. Their code is ``sign.py`` and ``check.py``; the exit statuses,
``UsageError`` and reading the files named on the command line, which every
subcommand shares, are ``usage.py``'s.
``doctor`` reads a glance-api configuration and tells which doors let an
unsigned image become active (see ``doctor/``). ``audit`` checks the
images already in the stores (see ``audit.py``).
"""

import argparse
import sys
import textwrap
import traceback

from cursive import signature_utils

from glance_import_guard import (
    __version__,
    _core,
    check,
    config_args,
    sign,
)
from glance_import_guard.usage import (
    EXIT_ACCEPT,
    EXIT_ERROR,
    EXIT_REFUSE,
    EXIT_USAGE,
    UsageError,
)

# What each exit code means, per subcommand: the one table of README.md's
# "The command line" and of --help (tests/unit/test_cli.py compares them).
EXIT_CODES = (
    (EXIT_ACCEPT, {
        "sign": "the properties were printed",
        "check": "the guard would import the image",
        "doctor": "every door is closed for callers who are not exempt",
        "audit": "no location is mismatch, size-mismatch or signature-bad",
    }),
    (EXIT_REFUSE, {
        "check": "the guard would refuse the image (every reason printed)",
        "doctor": "a door is open (each with its fix)",
        "audit": "a location is mismatch, size-mismatch or signature-bad",
    }),
    (EXIT_USAGE, {
        "*": "bad usage: an unknown or missing argument, a file that "
             "cannot be read, a configuration that cannot be parsed; "
             "nothing was checked",
    }),
    (EXIT_ERROR, {
        "*": "the command could not finish: an unexpected error, its "
             "traceback on stderr",
    }),
)
# Values --format took before it was one vocabulary: accepted, with a
# warning on stderr.
DEPRECATED_FORMATS = {"sign": {"args": "shell"}, "check": {"text": "table"},
                      "doctor": {"text": "table"}}


def cmd_audit(args):
    from glance_import_guard import audit  # imports Glance: only here
    try:
        return audit.run(args.oslo_args, args.project, args.image or (),
                         args.format, args.resume, args.parallel)
    except audit.ConfigError as e:
        raise UsageError(str(e)) from None


def cmd_doctor(args):
    from glance_import_guard import doctor  # imports Glance: only here
    try:
        return doctor.run(args.oslo_args, args.nova_config, args.format,
                          glance_user=args.glance_user)
    except doctor.ConfigError as e:
        raise UsageError(str(e)) from e


def exit_codes(command=None):
    """The exit-code table, for ``command`` or all, as --help shows it."""
    lines = ["exit status:"]
    for code, meanings in EXIT_CODES:
        if command:
            meaning = meanings.get(command) or meanings.get("*")
            if meaning:
                lines.append(_wrap("%d  %s" % (code, meaning)))
            continue
        for i, (name, meaning) in enumerate(meanings.items()):
            lines.append(_wrap("%s  %s%s" % (
                code if i == 0 else " ",
                "" if name == "*" else name + ": ", meaning)))
    return "\n".join(lines)


def _wrap(text):
    return textwrap.fill(text, 79, initial_indent="  ",
                         subsequent_indent="     ")


class _Format(argparse.Action):
    """--format: the value, or a deprecated one with a warning."""

    def __call__(self, parser, namespace, value, option_string=None):
        new = self.const.get(value)
        if new:
            print("glance-import-guard: warning: --format %s is deprecated;"
                  " use --format %s" % (value, new), file=sys.stderr)
            value = new
        setattr(namespace, self.dest, value)


def add_format(parser, command, extra=(), help=None):
    values = ("table", "json") + tuple(extra)
    deprecated = DEPRECATED_FORMATS.get(command, {})
    parser.add_argument(
        "--format", action=_Format, const=deprecated,
        choices=values + tuple(deprecated), default="table",
        metavar="{%s}" % ",".join(values),
        help=help or "a table (the default) or JSON")


def add_subcommand(sub, name, description, **kw):
    return sub.add_parser(name, description=textwrap.fill(description, 79),
                          epilog=exit_codes(name),
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          **kw)


def parser():
    p = argparse.ArgumentParser(
        prog="glance-import-guard",
        description="Sign images for Glance's import guard, or check offline "
                    "what the guard would decide.",
        epilog=exit_codes(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version",
                   version="%(prog)s " + __version__)
    sub = p.add_subparsers(dest="command", required=True)

    s = add_subcommand(
        sub, "sign", help="sign an image file and print its properties",
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
    add_format(s, "sign", extra=("shell",),
               help="a table of the properties (the default), JSON, or "
                    "shell: `--property k=v` arguments for `openstack "
                    "image create $(...)`")
    s.set_defaults(func=sign.cmd_sign)

    c = add_subcommand(
        sub, "check", help="run the guard's rules offline",
        description="Runs every rule of the guard on IMAGE and its "
                    "properties, with the [import_guard] options of the "
                    "configuration given (default: the guard's defaults).")
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
    config_args.add_arguments(c, defaults=False)
    c.add_argument("--roles", help="comma-separated roles of the importer, "
                   "in the image's project: exempt from the signature by "
                   "the policy rule import_guard:skip_signature of "
                   "--config-file's policy file (or exempt_roles)")
    add_format(c, "check")
    c.set_defaults(func=check.cmd_check)

    d = add_subcommand(
        sub, "doctor", help="tell which doors of a Glance deployment let "
                            "unsigned images in",
        description="Reads glance-api's configuration, paste pipeline and "
                    "policy and prints, for each way image data gets in, "
                    "whether it is closed, open or needs a look, and who "
                    "can change the certificate directory and the staging "
                    "key. Run it on the glance-api host.")
    config_args.add_arguments(d)
    d.add_argument("--nova-config", metavar="FILE",
                   help="nova.conf, to check Nova's signature and service "
                        "token settings too")
    d.add_argument("--glance-user", default="glance", metavar="USER",
                   help="the user glance-api runs as, who may own the "
                        "certificate directory and the staging key besides "
                        "root (default: glance)")
    add_format(d, "doctor")
    d.set_defaults(func=cmd_doctor)

    a = add_subcommand(
        sub, "audit", help="check the images already in the stores",
        description="Reads every location of each active image through "
                    "glance_store with glance-api's configuration, checks "
                    "its bytes against os_hash_value, checksum and size "
                    "and its signature, and prints a verdict per image and "
                    "location. Read-only. Run it on the glance-api host.")
    config_args.add_arguments(a)
    a.add_argument("--project", help="only this project's images")
    a.add_argument("--image", action="append", metavar="ID",
                   help="only this image (repeat for each)")
    add_format(a, "audit", extra=("json-lines",),
               help="a table (the default), JSON (an array of rows), or "
                    "json-lines (one row per line, as in --resume's file)")
    a.add_argument("--resume", metavar="FILE",
                   help="record each result in FILE and skip what a "
                        "stopped run already recorded there")
    a.add_argument("--parallel", type=int, default=2,
                   help="locations read at once (default: 2)")
    a.set_defaults(func=cmd_audit)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    for folder in config_args.old_style_dirs(getattr(args, "oslo_args", [])):
        print("glance-import-guard: warning: --config-dir %s reads every "
              "*.conf in it, as oslo.config does; for glance-api's files "
              "there give --config-file %s/glance-api.conf (or set "
              "OS_GLANCE_CONFIG_DIR)" % (folder, folder.rstrip("/")),
              file=sys.stderr)
    try:
        return args.func(args)
    except UsageError as e:
        print("glance-import-guard: error: %s" % e, file=sys.stderr)
        return EXIT_USAGE
    except Exception:
        traceback.print_exc()
        print("glance-import-guard: error: %s could not finish" %
              args.command, file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
