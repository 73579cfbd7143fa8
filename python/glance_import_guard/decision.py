"""The guard's whole decision on one image, as every caller makes it (the
import plugin, the CLI): the core checks the properties and plans the
pass, hashes the file once and compares the declared digest, and the
signature is verified over the digest the pass produced."""

import re

from glance_import_guard import _core, notify

_SURROGATE = re.compile("[\ud800-\udfff]")

#: The image property that keeps the message of the guard's last refusal
#: of an import of the image, until an import of it is accepted: what
#: ``openstack image create --import`` and ``openstack image show`` show
#: (openstacksdk discards the answer of ``POST .../import``).
REFUSAL_PROPERTY = "import_guard_refusal"


def properties_of(mapping):
    """An image's extra properties as the core takes them: every key and
    value valid UTF-8 text (a lone surrogate, which cannot be UTF-8,
    becomes U+FFFD, which no rule accepts). NOTE: ``dict()`` of it, not
    ``.items()``: the ExtraProperties proxy of glance.db.ImageProxy
    iterates its keys but its items() is empty."""
    return {_SURROGATE.sub("\ufffd", str(k)):
            _SURROGATE.sub("\ufffd", str(v))
            for k, v in dict(mapping).items()}


def shown(value, limit=100):
    """A value taken from a request (an id from the path, a region), as it
    may reach a log line or a message: every character that is not
    printable escaped (a line break cannot start a forged log line), and
    at most ``limit`` characters."""
    text = str(value)
    cut = len(text) > limit
    text = "".join(c if c.isprintable() else
                   c.encode("unicode_escape").decode("ascii")
                   for c in text[:limit])
    return text + "..." if cut else text


def decide(guard, properties, path, exempt, verify_signature, *,
           chunk_size=None, threads=_core.AUTO_THREADS, also_compute=(),
           recorded=None):
    """Returns ``(problems, plan, result)``.

    ``guard`` is a ``_core.Guard``. ``exempt``: the caller need not sign
    (``policies.skip_signature``). ``verify_signature(signature,
    digest_hex)`` returns the signature's problems. ``result`` is
    ``Guard.check_file``'s, or None when the file was not read because the
    properties alone refuse the image and no declared digest could add a
    reason (the core says so in ``read_data``). ``also_compute``: more
    digests the pass computes for the caller (in ``result["digests"]``);
    asking for any makes the file be read. ``recorded(plan)``: the
    verdict of the file from a record made when it was staged, or None to
    read it (see ``staging.recorded``).
    """
    verdict = guard.check_properties(properties, exempt=bool(exempt))
    problems, plan = verdict["problems"], verdict["plan"]
    known = set(_core.algorithms())
    extra = [a for a in also_compute
             if a in known and a not in plan["algorithms"]]
    if not verdict["read_data"] and not also_compute:
        return problems, plan, None
    plan["algorithms"] = plan["algorithms"] + extra
    result = recorded(plan) if recorded else None
    if result is None:
        result = guard.check_file(path, plan, chunk_size=chunk_size,
                                  threads=threads)
    problems += result["problems"]
    sig = plan["signature"]
    if sig and result["bytes"] is not None:
        problems += verify_signature(sig, result["digests"][sig["hash"]])
    return problems, plan, result


def _who(context):
    """The request id, user and project of ``context``, for a log line."""
    return {"request": getattr(context, "request_id", None),
            "user": getattr(context, "user_id", None),
            "project": getattr(context, "project_id", None)}


#: What each door would have done to the image (the refusal message
#: says it was not done): ``_core.refusal_message``'s action.
ACTIONS = {"upload": "upload", "stage": "stage", "import": "import",
           "precheck": "import", "patch": "change", "location": "change",
           "task": "create"}


def refusal(log, image_id, context, problems, door):
    """The message of a refusal at ``door``, logged at WARNING on ``log``
    (the caller's oslo.log logger) with what a SOC needs: the door, the
    image, the request id, user and project, the problem codes and the
    message; the line carries ``context`` for oslo.log's format too.
    ``image_id`` None: a request that has no image yet (a task). The
    same goes out as the notification ``image.import_guard.refused``
    (``notify``)."""
    shown_id = "(new)" if image_id is None else image_id  # a task's
    message = _core.refusal_message(shown_id, problems,
                                    ACTIONS.get(door, "change"))
    log.warning("import_guard refused %(door)s of image %(image)s "
                "(request %(request)s, user %(user)s, project %(project)s) "
                "[%(codes)s]: %(message)s",
                {"door": door, "image": shown_id, **_who(context),
                 "codes": ",".join(p["code"] for p in problems),
                 "message": message}, context=context)
    notify.refused(image_id, context, door, problems, message)
    return message


def log_exemption_used(log, door, image_id, context, plan, group):
    """Logs at INFO, naming the caller and the role, when ``plan`` (an
    accepted one) skipped the signature this cloud requires because the
    caller holds one of ``group.exempt_roles``: the one way past the
    signature requirement, so an operator sees each use of it; and sends
    the notification ``image.import_guard.exempted`` (``notify``)."""
    if plan["signature"] or not group.require_signature:
        return
    roles = sorted(set(getattr(context, "roles", None) or [])
                   & set(group.exempt_roles))
    if roles:
        log.info("import_guard accepted %(door)s of image %(image)s "
                 "without a signature: the caller is exempt by role "
                 "%(roles)s (request %(request)s, user %(user)s, project "
                 "%(project)s)",
                 {"door": door, "image": image_id, "roles": ",".join(roles),
                  **_who(context)}, context=context)
        notify.exempted(image_id, context, door, roles)
