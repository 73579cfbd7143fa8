"""The guard's whole decision on one image, as the plugin and the CLI make
it: the core checks the properties and plans the pass, hashes the file
once, compares the declared digest, and the signature is verified over the
digest the pass produced."""

from oslo_log import log as logging

from glance_import_guard import _core

LOG = logging.getLogger(__name__)


def problem(code, message):
    """A problem found outside the core (``_core.Problem``'s shape)."""
    return {"code": code, "property": None, "message": message}


def decide(properties, path, policy, roles, verify_signature,
           chunk_size=None, threads=None):
    """Returns ``(problems, plan, result)``.

    ``verify_signature(signature, digest_hex)`` returns the signature's
    problems. ``result`` is ``_core.check_file``'s, or None when the file
    was not read: the properties alone refuse the image and no declared
    digest could add a reason, or the file cannot be read (a problem
    without the path, which is logged). Raises ``_core.PolicyError`` for a
    bad policy.
    """
    verdict = _core.check_properties(properties, policy, list(roles))
    problems, plan = verdict["problems"], verdict["plan"]
    if problems and plan["declared"] is None:
        return problems, plan, None  # nothing the data could add
    try:
        result = _core.check_file(path, plan, chunk_size=chunk_size,
                                  threads=threads)
    except _core.StagedFileChanged as e:
        LOG.error("import_guard: %s", e)
        return problems + [problem(
            "staged-data-changed", "the staged image data changed while the "
            "guard read it; upload or import it again")], plan, None
    except _core.StagedFileError as e:
        LOG.error("import_guard: %s", e)
        return problems + [problem(
            "staged-data-unreadable", "the staged image data cannot be "
            "read; upload or import it again")], plan, None
    problems += result["problems"]
    sig = plan["signature"]
    if sig:
        problems += verify_signature(sig, result["digests"][sig["hash"]])
    return problems, plan, result
