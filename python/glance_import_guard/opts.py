"""The ``[import_guard]`` options, each declared here once, and the policy
they make for the core. ``list_opts`` is the ``oslo.config.opts`` entry
point: ``oslo-config-generator --namespace glance_import_guard``.
"""

from cursive import signature_utils
from oslo_config import cfg, types

from glance_import_guard import _core

GROUP = "import_guard"

WEAK_ALGORITHMS = ("md5", "sha1")

import_guard_opts = [
    cfg.BoolOpt(
        "require_signature",
        default=True,
        help="""
Refuse to import images that are not signed.

When true, an image is imported only if every property in
``required_signature_properties`` is set and not empty. Glance itself
verifies a signature only when all four ``img_signature*`` properties are
present and lets an image with three or fewer go active unchecked; this
option closes that gap. Values of signature properties that are present are
checked whatever this option says.

Possible values:
    * True: unsigned images are refused (the default)
    * False: unsigned images are imported; a declared digest is still checked

Related options:
    * required_signature_properties
    * the policy rule ``import_guard:skip_signature`` (who need not sign)
"""),
    cfg.ListOpt(
        "required_signature_properties",
        default=list(_core.SIGNATURE_PROPERTIES),
        help="""
Image properties that must be present and not empty for an import to count
as signed.

The default is the four properties cursive (and so Glance) uses to verify a
signature. Leaving one of them out means images without it are imported,
and Glance then does not verify their signature at all; you may add
properties of your own.

Possible values:
    * A comma-separated list of image property names

Related options:
    * require_signature
"""),
    cfg.ListOpt(
        "allowed_key_types",
        default=[],
        help="""
Signature key types (``img_signature_key_type``) this cloud accepts.

Empty (the default) accepts every key type the installed cursive can
verify; with cryptography 47 or later that is RSA-PSS, DSA, ECC_SECP384R1 and
ECC_SECP521R1. Names are case-sensitive, as cursive matches them. A name the
installed cursive cannot verify makes every import fail with a
configuration error, which the glance-api log explains.

Possible values:
    * Empty, or a comma-separated list of key types, e.g.
      ``RSA-PSS,ECC_SECP521R1``

Related options:
    * require_signature
"""),
    cfg.BoolOpt(
        "require_curve_match",
        default=True,
        help="""
Refuse signatures whose certificate's elliptic curve is not the one
``img_signature_key_type`` names.

cursive, which Glance uses to verify signatures, checks only that the key
is an EC key: a P-256 or P-224 key passes as ECC_SECP384R1. The guard
checks the curve too, so the key type users declare is the key they used.

Possible values:
    * True: the curve must match (the default)
    * False: any curve passes, as in Glance without the guard

Related options:
    * allowed_key_types
"""),
    cfg.BoolOpt(
        "check_certificate_dates",
        default=True,
        help="""
Refuse signatures whose certificate is outside its validity dates at
import.

Glance does not look at a signing certificate's dates when an image is
uploaded (Nova does, at boot, when certificate validation is on), so an
image signed with an expired certificate imports but may not boot. The
guard refuses it at import, where the user can still sign it again.

Possible values:
    * True: the certificate must be valid now (the default)
    * False: dates are not checked, as in Glance without the guard

Related options:
    * trusted_certificate_ids
"""),
    cfg.IntOpt(
        "min_rsa_key_size",
        default=2048,
        min=0,
        help="""
Smallest RSA key, in bits, whose signatures the guard accepts.

cursive accepts RSA keys from 1024 bits, and the Glance documentation's
signing example makes a 1024-bit key; such keys are too weak today (NIST
SP 800-131A). A refused user is told to make a larger key, a certificate
for it, and to sign again.

Possible values:
    * 0: any size, as in Glance without the guard
    * A number of bits, e.g. 2048 (the default) or 3072

Related options:
    * allowed_key_types
"""),
    cfg.ListOpt(
        "trusted_certificate_ids",
        default=[],
        help="""
Key-manager ids of the CA certificates image signing certificates must
chain to.

Empty (the default) trusts any certificate in the key manager, as Glance
does: a user can then sign with a self-made key whose certificate they
stored themselves. When set, the signing certificate must chain to one of
these, checked exactly as Nova checks it at boot with
``[glance] enable_certificate_validation`` (cursive's
``verify_certificate``: dates, CA extensions and path lengths), so an image
the guard imports also boots under that check.

Possible values:
    * Empty, or a comma-separated list of certificate ids in the key
      manager

Related options:
    * check_certificate_dates
"""),
    cfg.BoolOpt(
        "require_hash",
        default=False,
        help="""
Refuse to import images that do not declare a digest of their data.

A declared digest is the pair of properties named by ``hash_algo_property``
and ``hash_value_property``. Whatever this option says, a declared digest
is always checked against the staged data, and an image whose data does
not match it is refused.

Possible values:
    * False: a declared digest is optional (the default)
    * True: every import must declare one

Related options:
    * hash_algo_property
    * hash_value_property
    * allowed_hash_algorithms
"""),
    cfg.StrOpt(
        "hash_algo_property",
        default="img_hash_algo",
        help="""
Image property in which users name the algorithm of their declared digest.

Possible values:
    * Any image property name other than ``hash_value_property``; the
      value users set is one of ``allowed_hash_algorithms`` (any case)

Related options:
    * hash_value_property
    * allowed_hash_algorithms
"""),
    cfg.StrOpt(
        "hash_value_property",
        default="img_hash_value",
        help="""
Image property in which users give their declared digest, as hexadecimal.

Possible values:
    * Any image property name other than ``hash_algo_property``; the value
      users set is the hex digest of the image file (any case)

Related options:
    * hash_algo_property
"""),
    cfg.ListOpt(
        "allowed_hash_algorithms",
        default=[a for a in _core.algorithms() if a not in WEAK_ALGORITHMS],
        item_type=types.String(choices=_core.algorithms(),
                               ignore_case=True),
        help="""
Digest algorithms a declared digest may use.

md5 and sha1 are left out by default: collisions for both can be made on
purpose, so a matching md5 or sha1 digest proves little.

Possible values:
    * A comma-separated list of: %s

Related options:
    * hash_algo_property
""" % ", ".join(_core.algorithms())),
    cfg.ListOpt(
        "exempt_roles",
        default=[],
        deprecated_for_removal=True,
        deprecated_reason="use the policy rule "
        "\"import_guard:skip_signature\" in Glance's policy file",
        help="""
Roles that need no signature (deprecated: use the policy rule
``import_guard:skip_signature`` in Glance's policy file; ``a, b`` works as
``"role:a or role:b"`` OR'ed into the rule).

An upload or import made by a user with any of these roles skips the
signature requirement. A declared digest is still checked, and so are the
values of any signature properties that are set. The doors that only
refuse (the locations API, the legacy tasks API, a PATCH of what was
verified, the glance-download pre-check) let such a user through
untouched. Each use is logged at INFO.

Possible values:
    * Empty (the default: nobody is exempt), or a comma-separated list of
      role names, e.g. ``admin``
"""),
    cfg.ListOpt(
        "exempt_service_roles",
        default=[],
        deprecated_for_removal=True,
        deprecated_reason="use the policy rule \"import_guard:bypass\" in "
        "Glance's policy file",
        help="""
Roles of a *service token* that let a request through the guard
untouched: Glance then answers as it would without the guard (deprecated:
use the policy rule ``import_guard:bypass`` in Glance's policy file;
``service`` works as ``"service_roles:service"`` OR'ed into the rule).

Nova's snapshots and Cinder's upload-to-image send the user's token plus a
service token and carry no signature; ``service`` lets them through, and
with them every image a user makes through Nova or Cinder, unsigned. Only
keystonemiddleware sets the service roles, from a valid service token.

Possible values:
    * Empty (the default: no exemption), or a comma-separated list of
      roles a service token must carry one of, e.g. ``service``
"""),
    cfg.BoolOpt(
        "require_remote_hash",
        default=True,
        help="""
Refuse a glance-download of a remote image that has no ``os_hash_value``.

The guard checks the bytes a glance-download fetched against the remote
image's ``os_hash_algo``/``os_hash_value`` before any store gets them. An
image without them (OSSN-0090: Nova snapshots put directly into a shared
store have none) cannot be checked, so it is refused
(``remote-hash-missing``) unless this is false; its signature, when
required, is verified over the downloaded bytes either way.

Possible values:
    * True (the default), or False
"""),
    cfg.BoolOpt(
        "check_before_download",
        default=True,
        help="""
Check a glance-download's remote image before Glance downloads it.

The import_guard paste filter reads the remote image's record and answers
400, before any download, where the plugin would refuse on that record
alone: no such region or image, not active, over ``image_size_cap``, no
``os_hash_value``, or no signature where one is required.

Possible values:
    * True (the default), or False (the plugin alone decides)
"""),
    cfg.IntOpt(
        "remote_timeout",
        default=10,
        min=1,
        help="""
Seconds the guard waits for another region's glance-api when it reads a
glance-download's remote image; then the import fails with "try again
later" and the image stays retryable.

Possible values:
    * A whole number of seconds, at least 1 (default 10)

Related options:
    * check_before_download
"""),
    cfg.IntOpt(
        "hash_chunk_size",
        default=_core.DEFAULT_CHUNK_SIZE,
        min=_core.MIN_CHUNK_SIZE,
        max=_core.MAX_CHUNK_SIZE,
        help="""
Bytes read from the staged image file at a time while hashing it.

The guard reads the file once, computing every digest it needs from the
same buffer; this is that buffer's size, and the guard's memory use while
hashing, a few of these buffers, does not grow with the image size. The
default (1 MiB) was measured to be as fast as any larger size.

Possible values:
    * An integer from %d to %d

Related options:
    * hash_threads
""" % (_core.MIN_CHUNK_SIZE, _core.MAX_CHUNK_SIZE)),
    cfg.IntOpt(
        "hash_threads",
        default=_core.AUTO_THREADS,
        min=0,
        max=_core.MAX_THREADS,
        help="""
Most threads the guard hashes an image with, the one that reads it
included.

Every thread of the pass reads or hashes: the digests of the one pass
(the declared digest, the signature's hash, Glance's own
hashing_algorithm) move to whichever thread is free, and blake3 is
hashed as a tree any thread can work on. The default runs as many
threads as the digests can keep busy, never more than the cores: two on
a two-core host. Set a lower number to leave cores to other work on a
busy glance-api host; 1 reads and hashes on one thread.

Possible values:
    * 0: as many as the digests can keep busy, at most one per
      available core (the default)
    * A positive integer: at most that many threads

Related options:
    * hash_chunk_size
"""),
]


def register(conf=cfg.CONF):
    """Registers the options in ``conf`` (idempotent)."""
    conf.register_opts(import_guard_opts, group=GROUP)


def list_opts():
    """The ``oslo.config.opts`` entry point (with the key manager's)."""
    from glance_import_guard import keymanager
    return [(GROUP, import_guard_opts)] + keymanager.list_opts()


_guard = (None, None)  # (the policy it was built from, the Guard)


def guard(conf=cfg.CONF):
    """The core's ``Guard`` for ``conf``'s options, built once per set of
    options. Raises ``_core.PolicyError`` when they are inconsistent."""
    global _guard
    current = policy(conf)
    built_from, built = _guard
    if built_from != current:
        built = _core.Guard(current)
        _guard = (current, built)
    return built


def policy(conf=cfg.CONF):
    """The core's policy (see ``_core.Policy``) for ``conf``."""
    group = conf[GROUP]
    glance_algorithm = getattr(conf, "hashing_algorithm", None)
    return {
        "require_signature": group.require_signature,
        "required_signature_properties": list(
            group.required_signature_properties),
        "supported_key_types": sorted(
            signature_utils.SignatureKeyType.REGISTERED_TYPES),
        "allowed_key_types": list(group.allowed_key_types),
        "require_hash": group.require_hash,
        "hash_algo_property": group.hash_algo_property,
        "hash_value_property": group.hash_value_property,
        "allowed_hash_algorithms": list(group.allowed_hash_algorithms),
        "also_compute": [glance_algorithm] if glance_algorithm else [],
        "certificate": {
            "require_curve_match": group.require_curve_match,
            "check_certificate_dates": group.check_certificate_dates,
            "min_rsa_key_size": group.min_rsa_key_size,
        },
    }
