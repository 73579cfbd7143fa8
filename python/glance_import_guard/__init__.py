"""glance-import-guard: a Glance image import plugin.

While enabled (``import_guard`` in ``[image_import_opts]
image_import_plugins``), Glance imports an image only if it is signed and,
where a digest was declared, its staged bytes match that digest.

The work is done by the Rust core in :mod:`glance_import_guard._core`;
:mod:`glance_import_guard.plugin` glues it into Glance's import flow and
:mod:`glance_import_guard.opts` declares the ``[import_guard]`` options.
"""

from glance_import_guard._core import (
    GuardError,
    PolicyError,
    StagedFileChanged,
    StagedFileError,
    algorithms,
    b64decode,
    check_certificate,
    check_file,
    check_properties,
    check_trust,
    hash_file,
    refusal_message,
    signature_hash_methods,
    validate_policy,
)

__all__ = [
    "GuardError",
    "PolicyError",
    "StagedFileChanged",
    "StagedFileError",
    "algorithms",
    "b64decode",
    "check_certificate",
    "check_file",
    "check_properties",
    "check_trust",
    "hash_file",
    "refusal_message",
    "signature_hash_methods",
    "validate_policy",
]
