"""The ``import_guard`` paste filter: the doors other than import.

The import plugin sees only imports. Images also get data through
``PUT /v2/images/{id}/file`` (what ``openstack image create --file`` does),
through the locations API, and through the legacy tasks API. This filter
puts the same decision (the same ``Guard``, rules, messages and codes) in
front of those doors. In ``glance-api-paste.ini``::

    [filter:import_guard]
    paste.filter_factory = glance_import_guard.middleware:filter_factory

and ``import_guard`` right after ``context`` in each pipeline of the
flavor glance-api serves. For a caller whose service token carries none of
``[import_guard] exempt_service_roles``:

- ``PUT .../file``: before the first byte is read, the properties (and the
  signing certificate) are checked; then the body is hashed as Glance reads
  it, and at its end the declared digest and the signature are checked. A
  refusal is raised from the body's ``read()``, so Glance deletes what it
  stored, puts the image back to ``queued`` and answers 400 with the
  guard's message.
- ``POST .../locations`` and ``PATCH`` operations on ``/locations``: 403.
- ``POST /v2/tasks``: 403 (the legacy tasks API runs no import plugin).
- ``PATCH`` of a signature property or of the declared digest once the
  image has left ``queued``: 403, so that what was verified is what the
  record says.
- ``PUT .../stage``: the body is hashed as Glance stages it, for the
  digests the image's properties call for and Glance's own
  ``hashing_algorithm``; once Glance has answered with success, they are
  recorded beside the staged file (see ``staging``), so that the
  glance-direct import need not read it again. Nothing is refused here.
- ``POST .../import`` with ``glance-download``: the remote image's record
  is read first, and an import the plugin would refuse on it alone (no
  such region or image, not active, over ``image_size_cap``, no
  ``os_hash_value``, no signature here or there) is refused with 400
  before Glance downloads anything. The plugin still checks the bytes.

NOTE: the filter decides on Glance's routed action, which Glance's router
puts in ``environ['wsgiorg.routing_args']`` before it reads the body
(glance/common/wsgi.py, Router and Resource), so the decision is taken at
the first read of the body; ``//``, percent-encoding and ``/v2.0/`` all
reach the same action.
"""

import io
import json

import webob
import webob.exc
from oslo_config import cfg
from oslo_log import log as logging

from glance_import_guard import (
    _core,
    decision,
    opts,
    remote,
    signature,
    staging,
)
from glance_import_guard.bodies import (
    CheckedUpload,
    GuardedInput,
    UwsgiChunks,
    uwsgi_module,
)

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
opts.register(CONF)

# JSON bodies the filter reads whole to decide (a PATCH, a location): far
# more than any real one, small enough to hold.
MAX_JSON_BODY = 1 << 20


def _context(environ):
    """The request context Glance's ``context`` filter set (webob keeps
    ``req.context`` in ``webob.adhoc_attrs``)."""
    return environ.get("webob.adhoc_attrs", {}).get("context")


def _route(environ):
    """(action, routing match, controller module) Glance routed to."""
    match = environ.get("wsgiorg.routing_args", ((), {}))[1] or {}
    resource = match.get("controller")
    controller = getattr(resource, "controller", None)
    return (match.get("action"), match,
            type(controller).__module__ if controller else "")


# environ key: a stage being hashed ({"image_id", "path", "result"}).
STAGED = "import_guard.staged"

LOCATION_REFUSED = ("this cloud does not let images take their data from a "
                    "location; upload the data or import it")


def _forbidden(message):
    return webob.exc.HTTPForbidden(explanation=message)


class ImportGuardFilter:
    """The WSGI filter: wraps the body of every PUT, POST and PATCH so that
    the decision is taken at its first read (see the module's doc)."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") not in ("PUT", "POST", "PATCH"):
            return self.app(environ, start_response)
        raw = environ["wsgi.input"]
        uwsgi = uwsgi_module()
        if (uwsgi is not None and environ.get(
                "HTTP_TRANSFER_ENCODING", "").lower() == "chunked"):
            # NOTE: under uWSGI, Glance reads a chunked body with
            # uwsgi.chunked_read() itself, never through wsgi.input
            # (glance/common/wsgi.py, Request.body_file). The filter reads
            # it so instead, and hides the chunking from Glance, which then
            # reads wsgi.input as any body that ends by itself
            # (wsgi.input_terminated).
            raw = UwsgiChunks(uwsgi)
            del environ["HTTP_TRANSFER_ENCODING"]
            environ["wsgi.input_terminated"] = True
        body = GuardedInput(self, environ, raw)
        environ["wsgi.input"] = body
        answered = []

        def respond(status, headers, exc_info=None):
            answered.append(status)
            if body.refused:
                # The rest of the body was never read: the client must not
                # send its next request on this connection.
                headers = [h for h in headers
                           if h[0].lower() != "connection"]
                headers.append(("Connection", "close"))
            return start_response(status, headers, exc_info)

        response = self.app(environ, respond)
        staged = environ.get(STAGED)
        if staged and staged.get("result") and answered and \
                answered[-1].startswith("2"):
            # Glance has written the whole body to the staging store.
            staging.record(staged["path"], staged["image_id"],
                           staged["result"])
        return response

    # The decision, at the first read of the body.

    def decide(self, environ, raw, length):
        """What Glance reads instead of ``raw``; raises the refusal."""
        action, match, module = _route(environ)
        method = environ.get("REQUEST_METHOD")
        door = {("upload", "PUT"): "upload", ("add_location", "POST"):
                "location", ("update", "PATCH"): "patch",
                ("import_image", "POST"): "import",
                ("stage", "PUT"): "stage"}.get((action, method))
        if action == "create" and module.endswith(".tasks"):
            door = "task"
        if door is None:
            return raw
        context = _context(environ)
        if context is None:
            # NOTE: Glance's context filter sets req.context
            # (glance/api/middleware/context.py); without it the filter
            # cannot know who asks, so it refuses.
            LOG.error("import_guard has no request context: put "
                      "import_guard after context in the paste pipeline")
            raise webob.exc.HTTPInternalServerError(
                explanation="the import guard is misconfigured; the cloud "
                            "operator must fix glance-api's paste pipeline")
        if door == "stage":
            return self._stage(environ, context, match["image_id"], raw,
                               length)
        if self._exempt(context):
            return raw
        if door == "upload":
            return self._upload(context, match["image_id"], raw, length)
        if door == "location":
            raise self._refuse_door(
                context, match.get("image_id"), "location-refused",
                LOCATION_REFUSED)
        if door == "import":
            return self._import(context, match["image_id"], raw, length)
        if door == "task":
            raise self._refuse_door(
                context, None, "legacy-task-refused",
                "this cloud does not run the tasks API's import, which "
                "checks no signature; create the image and import it "
                "(POST /v2/images/{id}/import)")
        return self._patch(context, match["image_id"], raw, length)

    def _exempt(self, context):
        exempt = set(CONF.import_guard.exempt_service_roles)
        roles = set(getattr(context, "service_roles", None) or [])
        if exempt & roles:
            LOG.debug("import_guard lets a request through: its service "
                      "token has %s", sorted(exempt & roles))
            return True
        return False

    def _refuse_door(self, context, image_id, code, message):
        return _forbidden(decision.refusal(
            LOG, image_id or "(new)", context.project_id,
            [_core.problem(code, message)]))

    def _image(self, context, image_id):
        """The image, or None where the caller may not see it (Glance then
        answers the request itself, 404 or 403)."""
        # NOTE: read as glance/api/middleware/cache.py reads an image.
        import glance.db
        from glance.common import exception
        try:
            return glance.db.ImageRepo(context, glance.db.get_api()).get(
                image_id)
        except (exception.NotFound, exception.Forbidden):
            return None

    def failure(self, environ):
        """The refusal of a request the guard failed on."""
        image_id = _route(environ)[1].get("image_id")
        problem = _core.problem(
            "guard-failed",
            "the import guard could not check this request because of an "
            "unexpected error; try again, and if this persists ask the "
            "cloud operator (the glance-api log has the details)")
        return webob.exc.HTTPBadRequest(explanation=_core.refusal_message(
            image_id or "(new)", [problem]))

    def _refusal(self, context, image_id, problems):
        message = decision.refusal(LOG, image_id, context.project_id,
                                   problems)
        # NOTE: raised from the body's read(), HTTPBadRequest makes Glance
        # delete what it stored, put the image back to queued and answer
        # 400 with this message (glance/api/v2/image_data.py, upload).
        return webob.exc.HTTPBadRequest(explanation=message)

    def _upload(self, context, image_id, raw, length):
        image = self._image(context, image_id)
        if image is None:
            return raw
        properties = decision.properties_of(image.extra_properties)
        try:
            guard = opts.guard(CONF)
        except _core.PolicyError as e:
            LOG.error("import_guard is misconfigured, refusing the upload "
                      "of image %s: %s", image_id, e)
            raise self._refusal(context, image_id, [_core.problem(
                "guard-misconfigured",
                "the import guard is misconfigured; the cloud operator "
                "must fix [import_guard] in glance-api.conf")]) from None
        verdict = guard.check_properties(properties, context.roles or [])
        plan = verdict["plan"]
        if verdict["problems"]:
            raise self._refusal(context, image_id, verdict["problems"])
        certificate = None
        sig = plan["signature"]
        if sig:
            certificate, problems = signature.certificate_of(
                context, guard, sig, CONF.import_guard.trusted_certificate_ids)
            if problems:
                raise self._refusal(context, image_id, problems)
        group = CONF.import_guard
        stream = guard.stream(plan, chunk_size=group.hash_chunk_size,
                              threads=group.hash_threads)

        def finish():
            result = stream.finish()
            problems = result["problems"]
            if sig:
                problems += signature.verify_with_certificate(
                    certificate, sig, result["digests"][sig["hash"]])
            if problems:
                raise self._refusal(context, image_id, problems)
            LOG.info("import_guard accepted the upload of image %(image)s "
                     "(%(bytes)d bytes, signature %(sig)s)",
                     {"image": image_id, "bytes": result["bytes"],
                      "sig": "verified" if sig else "not required"})

        return CheckedUpload(raw, length, stream, finish)

    def _stage(self, environ, context, image_id, raw, length):
        """The stage's body, hashed as Glance reads it (see the module's
        doc); the result goes to ``environ[STAGED]`` at its end."""
        path = staging.staged_path(image_id)
        image = self._image(context, image_id)
        if path is None or image is None:
            return raw
        properties = decision.properties_of(image.extra_properties)
        try:
            guard = opts.guard(CONF)
        except _core.PolicyError:
            return raw  # the import refuses it, and says why
        algorithms = guard.check_properties(
            properties, context.roles or [])["plan"]["algorithms"]
        group = CONF.import_guard
        stream = guard.stream(
            {"algorithms": algorithms, "declared": None, "signature": None},
            chunk_size=group.hash_chunk_size, threads=group.hash_threads)
        staged = environ[STAGED] = {"image_id": image_id, "path": path,
                                    "result": None}

        def finish():
            staged["result"] = stream.finish()

        return CheckedUpload(raw, length, stream, finish)

    @staticmethod
    def _json(raw, length, what):
        """(body bytes, parsed JSON or None) of a small JSON body."""
        body = raw.read(min(length, MAX_JSON_BODY + 1)
                        if length is not None else MAX_JSON_BODY + 1)
        if len(body) > MAX_JSON_BODY:
            raise webob.exc.HTTPRequestEntityTooLarge(
                explanation="%s of more than %d bytes" % (
                    what, MAX_JSON_BODY))
        try:
            return body, json.loads(body.decode("utf-8"))
        except ValueError:
            return body, None  # Glance answers the bad body itself

    def _import(self, context, image_id, raw, length):
        body, request = self._json(raw, length, "an import request")
        method = request.get("method") if isinstance(request, dict) else None
        if not isinstance(method, dict) or \
                method.get("name") != "glance-download" or \
                not CONF.import_guard.check_before_download:
            return io.BytesIO(body)
        image = self._image(context, image_id)
        if image is None or image.status != "queued":
            return io.BytesIO(body)  # Glance answers 404/403/409 itself
        source = remote.Remote(method)
        record, fault = source.fetch(context)
        if fault:
            problems = [fault]
        else:
            problems = source.problems_before_download(
                record, CONF.image_size_cap)
            properties = decision.properties_of(image.extra_properties)
            group = CONF.import_guard
            properties.update(decision.properties_of(remote.adoptable(
                properties, record,
                (group.hash_algo_property, group.hash_value_property))))
            problems += opts.guard(CONF).check_properties(
                properties, context.roles or [])["problems"]
        if problems:
            raise self._refusal(context, image_id, problems)
        return io.BytesIO(body)

    def _patch(self, context, image_id, raw, length):
        body, changes = self._json(raw, length, "an image PATCH")
        if changes is None:
            return io.BytesIO(body)
        paths = [str(c.get("path", "")) for c in changes
                 if isinstance(c, dict)] if isinstance(changes, list) else []
        if any(p == "/locations" or p.startswith("/locations/")
               for p in paths):
            raise self._refuse_door(context, image_id, "location-refused",
                                    LOCATION_REFUSED)
        guarded = set(_core.SIGNATURE_PROPERTIES) | {
            CONF.import_guard.hash_algo_property,
            CONF.import_guard.hash_value_property}
        touched = sorted({p[1:] for p in paths} & guarded)
        if touched:
            image = self._image(context, image_id)
            if image is not None and image.status != "queued":
                raise self._refuse_door(
                    context, image_id, "verified-property-change",
                    "%s cannot change once the image has data (it is %s): "
                    "the guard verified the data against them; create a "
                    "new image instead" % (", ".join(touched), image.status))
        return io.BytesIO(body)


def filter_factory(global_conf, **local_conf):
    """The ``paste.filter_factory`` entry point."""
    return ImportGuardFilter
