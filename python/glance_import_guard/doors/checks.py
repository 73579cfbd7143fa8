"""What the guard does at each door, on the call Glance is about to make.

``call(door, request, kwargs, proceed)`` runs inside Glance's
``Resource.dispatch`` of a controller action (see ``doors.resource``):
``kwargs`` is what Glance's own deserializer produced for it, and
``proceed(**kwargs)`` calls Glance's controller. For a caller whose
``import_guard:bypass`` policy rule holds (or whose service token has one
of the deprecated ``[import_guard] exempt_service_roles``) nothing here
runs: Glance answers as it would without the guard. For any other
caller:

- ``upload`` (``PUT .../file``): the body Glance's deserializer gives the
  controller is replaced by one that decides at Glance's first read of it
  (so after Glance's own checks: the image exists, the caller may upload,
  the image is queued): the properties and the signing certificate are
  checked, then the bytes are hashed as Glance reads them, and at their
  end (the Content-Length, or the empty read) the declared digest and the
  signature are checked. A refusal is raised from that ``read()``, so
  Glance deletes what it stored, puts the image back to ``queued`` and
  answers 400 with the guard's message. An empty body is read too (NOTE:
  every glance_store driver reads until it gets ``b""``,
  glance_store/_drivers/*.py ``add``, through ``utils.chunkreadable``).
- ``stage`` (``PUT .../stage``): the body is hashed as Glance stages it;
  once Glance's controller has returned (the file is whole), the digests
  are recorded beside the staged file (``staging``). Nothing is refused.
- ``import`` (``POST .../import``): refused at once (400) when the
  image's record alone refuses it, when Glance is about to create the
  import's task, after all of Glance's own checks (``doors.precheck``);
  the import plugin then checks the data.
- ``location``, ``task``: refused (403).
- ``patch``: a change of a signature property or of the declared digest
  once the image has data in a store (any status but ``queued`` and
  ``uploading``), or any change of ``/locations``, is
  refused (403), decided on the changes as Glance's deserializer parsed
  them (both JSON-patch media types, every op, paths as Glance normalizes
  them).
- an ``unknown`` call (a route of a newer Glance): refused (403).

The policy rule ``import_guard:skip_signature`` (and the deprecated
``exempt_roles``) drops the signature requirement in the core's rules: the
data doors still hold such callers to what they declared (a digest, a
signature they set), and the doors that only refuse (``location``,
``task``, ``patch``, ``unknown``, the glance-download pre-check) let them
through (``policies``).

The body of a data door is ended when Glance's controller returns, however
it returns: a client that went away, a size cap, an exception in Glance.
"""

import webob.exc
from oslo_config import cfg
from oslo_log import log as logging

from glance_import_guard import (
    _core,
    decision,
    notify,
    opts,
    policies,
    signature,
    staging,
)
from glance_import_guard.bodies import CheckedBody, guard_failed
from glance_import_guard.doors import precheck, s3
from glance_import_guard.doors.common import (
    REFUSED,
    exemption,
    image_of,
    refusal,
    refuse_door,
)

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
opts.register(CONF)

LOCATION_REFUSED = ("this cloud does not let images take their data from a "
                    "location; upload the data or import it")


def _let_through(context, door, image_id, roles):
    LOG.info("import_guard lets %(door)s of image %(image)s through: the "
             "caller is exempt by role %(roles)s (user %(user)s, project "
             "%(project)s)",
             {"door": door, "image": decision.shown(image_id),
              "roles": ",".join(roles), "user": context.user_id,
              "project": context.project_id})
    notify.exempted(decision.shown(image_id) if image_id else None,
                    context, door, roles)


def call(door, request, kwargs, proceed):
    """Glance's controller call ``proceed(**kwargs)``, guarded at
    ``door`` (None: a call the guard leaves alone). An unexpected error of
    the guard's own is the guard-failed refusal, never Glance's 500."""
    if door is None:
        return proceed(**kwargs)
    try:
        reads_data = _decide(door, request, kwargs)
    except webob.exc.HTTPException:
        raise
    except Exception:
        LOG.exception("import_guard failed on %s %s; refusing it",
                      request.method, decision.shown(request.path))
        raise guard_failed(kwargs.get("image_id")) from None
    if reads_data:
        return _data(door, request, request.context, kwargs, proceed)
    return proceed(**kwargs)


def _decide(door, request, kwargs):
    """Raises the refusal of the call; True when its body is to be read
    through the guard."""
    context = request.context
    image_id = kwargs.get("image_id")
    roles = exemption(context, door, image_id)
    if roles:
        _let_through(context, door, image_id, roles)
        return False
    if door in ("upload", "stage"):
        return True
    if door == "import":
        return False  # doors.precheck, then the import plugin
    if door == "patch":
        _patch(context, image_id, kwargs.get("changes") or [])
        return False
    if door == "location":
        raise refuse_door(context, image_id, door, "location-refused",
                          LOCATION_REFUSED)
    if door == "task":
        raise refuse_door(
            context, None, door, "legacy-task-refused",
            "this cloud does not run the tasks API's import, which checks "
            "no signature; create the image and import it "
            "(POST /v2/images/{id}/import)")
    LOG.error("import_guard does not know the Glance call %s %s; refusing "
              "it until the guard is updated for this Glance",
              request.method, decision.shown(request.path))
    raise refuse_door(
        context, image_id, door, "unknown-request",
        "the import guard does not know this call of Glance's API, so it "
        "refuses it; the cloud operator must update the import guard")


def deleted(image_id):
    """After Glance deleted ``image_id`` (and its staged data): forgets
    the digests recorded when it was staged here, if any."""
    path = staging.staged_path(image_id) if image_id else None
    if path:
        staging.forget(path)


def prepare(resources):
    """Called once per guarded resource set (``doors.resource``)."""
    for resource in resources:
        precheck.install(resource.controller)


def _data(door, request, context, kwargs, proceed):
    image_id = kwargs.get("image_id")
    start = _upload_pass if door == "upload" else _stage_pass
    staged = {}

    def begin():
        return start(context, image_id, staged)

    def refused():
        request.environ[REFUSED] = True

    body = CheckedBody(kwargs.get("data"), kwargs.get("size"), begin,
                       refused, lambda: guard_failed(image_id))
    kwargs["data"] = body
    try:
        try:
            result = proceed(**kwargs)
        finally:
            body.close()
    except BaseException:
        if door == "upload" and request.environ.get(REFUSED):
            # glance_store's s3 driver leaves the multipart upload it had
            # started when the body's read() raised (doors.s3).
            s3.abort_leftovers(image_id, s3.target_store(request))
        raise
    if door == "stage" and staged.get("result"):
        # Glance has written the whole body to the staging store.
        staging.record(staged["path"], image_id, staged["result"])
    elif door == "upload" and not body.checked:
        LOG.error("import_guard did not see the end of the upload of image "
                  "%s although Glance accepted it", decision.shown(image_id))
    elif door == "upload":
        # Glance has saved the image with its data: an earlier refusal of
        # an import of it no longer holds.
        precheck.forget(context, image_id)
    return result


def _guard(context, image_id):
    try:
        return opts.guard(CONF)
    except _core.PolicyError as e:
        LOG.error("import_guard is misconfigured, refusing the upload of "
                  "image %s: %s", image_id, e)
        raise refusal(context, image_id, [_core.problem(
            "guard-misconfigured",
            "the import guard is misconfigured; the cloud operator must "
            "fix [import_guard] in glance-api.conf")], "upload") from None


def _upload_pass(context, image_id, _staged):
    """At the first read of an upload: the record's verdict, then the
    stream and what to do at its end (raises the refusal)."""
    image = image_of(context, image_id)
    if image is None:  # Glance read the image a moment ago
        raise guard_failed(image_id)
    image_id = image.image_id
    guard = _guard(context, image_id)
    skipped = policies.skip_signature(
        context, policies.target(context, "upload", image=image))
    verdict = guard.check_properties(
        decision.properties_of(image.extra_properties), exempt=bool(skipped))
    plan = verdict["plan"]
    if verdict["problems"]:
        raise refusal(context, image_id, verdict["problems"], "upload")
    certificate = None
    sig = plan["signature"]
    if sig:
        certificate, problems = signature.certificate_of(
            context, guard, sig, CONF.import_guard.trusted_certificate_ids)
        if problems:
            raise refusal(context, image_id, problems, "upload")
    stream = _stream(guard, plan)

    def finish():
        result = stream.finish()
        problems = result["problems"]
        if sig:
            problems += signature.verify_with_certificate(
                certificate, sig, result["digests"][sig["hash"]])
        if problems:
            raise refusal(context, image_id, problems, "upload")
        LOG.info("import_guard accepted the upload of image %(image)s "
                 "(%(bytes)d bytes, signature %(sig)s)",
                 {"image": image_id, "bytes": result["bytes"],
                  "sig": "verified" if sig else "not required"})
        decision.log_exemption_used(LOG, "upload", image_id, context, plan,
                                    CONF.import_guard)
        policies.log_rule_used(LOG, "upload", image_id, context, plan,
                               skipped, CONF.import_guard)

    return stream, finish


def _stage_pass(context, image_id, staged):
    """At the first read of a stage: a stream of the digests the image's
    properties call for now, recorded in ``staged`` at its end; None when
    there is nothing to record."""
    path = staging.staged_path(image_id)
    image = image_of(context, image_id)
    if path is None or image is None:
        return None, None
    try:
        guard = opts.guard(CONF)
    except _core.PolicyError:
        return None, None  # the import refuses it, and says why
    # The digests a plan asks for do not depend on the exemption.
    algorithms = guard.check_properties(
        decision.properties_of(image.extra_properties),
        exempt=False)["plan"]["algorithms"]
    stream = _stream(guard, {"algorithms": algorithms, "declared": None,
                             "signature": None})
    staged["path"] = path

    def finish():
        staged["result"] = stream.finish()

    return stream, finish


def _stream(guard, plan):
    group = CONF.import_guard
    return guard.stream(plan, chunk_size=group.hash_chunk_size,
                        threads=group.hash_threads)


def _patch(context, image_id, changes):
    """Refuses a change of what was verified (see the module's doc).
    NOTE: Glance's deserializer gives each change's path as a list of
    decoded, stripped segments (glance/api/v2/images.py,
    RequestDeserializer._decode_json_pointer)."""
    touched = {str(c["path"][0]) for c in changes
               if isinstance(c, dict) and c.get("path")}
    if "locations" in touched:
        raise refuse_door(context, image_id, "patch", "location-refused",
                          LOCATION_REFUSED)
    group = CONF.import_guard
    guarded = set(_core.SIGNATURE_PROPERTIES) | {
        group.hash_algo_property, group.hash_value_property}
    names = sorted(touched & guarded)
    if not names:
        return
    image = image_of(context, image_id)
    # ``uploading`` is staged data that no import has taken yet: the import
    # checks the properties it then finds, so a user whose import was
    # refused fixes them and imports again (``doors.precheck``). A direct
    # upload in progress is ``saving``, an import ``importing``.
    if image is not None and image.status not in ("queued", "uploading"):
        raise refuse_door(
            context, image.image_id, "patch", "verified-property-change",
            "%s cannot change once the image has data (it is %s): the "
            "guard verified the data against them; create a new image "
            "instead" % (", ".join(names), image.status))
