"""glance-import-guard: a Glance image import plugin.

While enabled (``import_guard`` in ``[image_import_opts]
image_import_plugins``), Glance imports an image only if it is signed and,
where a digest was declared, its staged bytes match that digest.

The work is done by the Rust core in :mod:`glance_import_guard._core`,
whose :class:`Guard` every caller builds once from the options
(:func:`glance_import_guard.opts.guard`); :mod:`glance_import_guard.plugin`
glues it into Glance's import flow and :mod:`glance_import_guard.opts`
declares the ``[import_guard]`` options.

``glance_import_guard.__version__`` is the installed distribution's
version (what pip shows), which maturin takes from Cargo.toml.
"""

from importlib import metadata

from glance_import_guard._core import (
    AUTO_THREADS,
    MAX_THREADS,
    SIGNATURE_PROPERTIES,
    Guard,
    GuardError,
    PolicyError,
    StagedFileChanged,
    StagedFileError,
    StreamCheck,
    algorithms,
    b64decode,
    hash_file,
    pass_threads,
    problem,
    problem_codes,
    refusal_message,
    signature_hash_methods,
)

__all__ = [
    "AUTO_THREADS",
    "MAX_THREADS",
    "SIGNATURE_PROPERTIES",
    "Guard",
    "GuardError",
    "PolicyError",
    "StagedFileChanged",
    "StagedFileError",
    "StreamCheck",
    "algorithms",
    "b64decode",
    "hash_file",
    "pass_threads",
    "problem",
    "problem_codes",
    "refusal_message",
    "signature_hash_methods",
]


def __getattr__(name):
    # PEP 562: ``__version__`` is read from the distribution's metadata
    # when asked for, so importing the guard (glance-api does, in every
    # worker) never depends on it.
    if name == "__version__":
        return metadata.version("glance-import-guard")
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
