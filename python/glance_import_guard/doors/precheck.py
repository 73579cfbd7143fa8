"""An import refused at once, with a 400 carrying the guard's message,
when the image's record alone already refuses it: before Glance creates
the import's task, after all of Glance's own checks, whatever the import
method. The checks that need the bytes stay in the import plugin.

Refused here, for glance-direct and web-download: what the core refuses
on the image's properties (no signature where one is required, malformed
signature or digest properties) and a signing certificate that the key
manager does not have, cannot give now, or that is unusable (expired, not
trusted, the wrong key type). The image stays as it was, ``queued``, or
``uploading`` with its staged data: the user fixes the properties (the
filter lets verified properties change until the image has data in a
store) and imports again, with no new upload.

For glance-download the record is the remote image's, as the plugin will
adopt it (see ``remote``): refused also are a remote image with no
``os_hash_value`` and a region that does not answer (try again later:
the guard cannot check, and fails closed). Left to Glance, whose download
task fails on its own: a region or remote image that does not exist or
that the caller cannot see, an image that is not active or too big.

copy-image is not checked: Glance runs no import plugin for it, and the
image it copies is active, so it went through the guard when its data
arrived.

NOTE: ``ImagesController.import_image`` (glance/api/v2/images.py) checks
the request (the image exists and is in the status the method needs, the
caller may modify it, the remote image id is a UUID, no other import holds
the lock, the stores exist) and only then calls its gateway's task
factory's ``new_task(task_type='api_image_import', task_input={'image_id',
'import_req', 'backend'}, ...)``, before it takes the import lock and
starts the task. The guard checks there: a refusal raised from
``new_task`` is a 400 with the guard's message, no task is created, no
lock taken and the image's status is unchanged. The same code in glance 28
to 33.

The refusal's message is also kept in the image's ``import_guard_refusal``
property (``decision.REFUSAL_PROPERTY``), as the import plugin keeps its
own, until an import of the image is accepted: openstacksdk (through
4.22) returns the answer of ``POST .../import`` without raising, so the
openstack command (through 10.5) ends with success and shows the image,
and the message is there.
"""

from oslo_config import cfg
from oslo_log import log as logging

from glance_import_guard import (
    _core,
    decision,
    opts,
    policies,
    remote,
    signature,
)
from glance_import_guard.bodies import guard_failed
from glance_import_guard.doors.common import exemption, image_of, refusal

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

_IMAGES = "glance.api.v2.images.ImagesController"


def install(controller):
    """Puts the check in front of ``controller``'s task factory, if it is
    Glance's images controller (idempotent)."""
    cls = type(controller)
    if "%s.%s" % (cls.__module__, cls.__qualname__) != _IMAGES:
        return
    if not isinstance(controller.gateway, _Gateway):
        controller.gateway = _Gateway(controller.gateway)


class _Gateway:
    """Glance's gateway, but for the task factory it hands out."""

    def __init__(self, gateway):
        self._gateway = gateway

    def __getattr__(self, name):
        return getattr(self._gateway, name)

    def get_task_factory(self, context, *args, **kwargs):
        return _TaskFactory(
            self._gateway.get_task_factory(context, *args, **kwargs),
            context)


class _TaskFactory:
    def __init__(self, factory, context):
        self._factory = factory
        self._context = context

    def __getattr__(self, name):
        return getattr(self._factory, name)

    def new_task(self, *args, **kwargs):
        if kwargs.get("task_type") == "api_image_import":
            check(self._context, kwargs.get("task_input"))
        return self._factory.new_task(*args, **kwargs)


#: The import methods whose image's own record is checked here.
LOCAL_METHODS = ("glance-direct", "web-download")


def check(context, task_input):
    """Raises the refusal of an import that the record alone refuses."""
    body = (task_input or {}).get("import_req") or {}
    method = body.get("method") if isinstance(body, dict) else None
    name = method.get("name") if isinstance(method, dict) else None
    image_id = (task_input or {}).get("image_id")
    if name == "glance-download":
        if not CONF.import_guard.check_before_download or \
                exemption(context, "precheck", image_id):
            return
        find = _remote_problems
    elif name in LOCAL_METHODS:
        # A service exemption only: the user's exempt roles are the
        # core's to weigh, as the plugin weighs them.
        if exemption(context, "import", image_id):
            return
        find = _local_problems
    else:
        return
    try:
        problems = find(context, image_id, method)
    except Exception:
        LOG.exception("import_guard failed while checking the %s import "
                      "of image %s; refusing it", name,
                      decision.shown(image_id))
        raise guard_failed(image_id) from None
    if problems:
        error = refusal(context, image_id, problems, "precheck")
        _keep(context, image_id, error.explanation)
        raise error


def forget(context, image_id):
    """Removes a kept refusal from an image whose data the guard accepted
    at the upload door (the plugin removes it itself at an import)."""
    _keep(context, image_id, None)


def _keep(context, image_id, message):
    """Keeps the refusal's message on the image (``REFUSAL_PROPERTY``), as
    the import plugin does, for the clients that discard the 400: the
    openstack command shows the image, and the property, instead.
    NOTE: saved through glance.db's repository, as Glance's own import
    saves the image (glance/api/v2/images.py, import_image); the caller
    may modify the image (Glance checked that before ``new_task``)."""
    import glance.db
    try:
        repo = glance.db.ImageRepo(context, glance.db.get_api())
        image = repo.get(image_id)
        if message is not None:
            image.extra_properties[decision.REFUSAL_PROPERTY] = message
        elif decision.REFUSAL_PROPERTY in image.extra_properties:
            del image.extra_properties[decision.REFUSAL_PROPERTY]
        else:
            return
        repo.save(image)
    except Exception as e:
        LOG.warning("import_guard could not %s %s on image %s: %s",
                    "set" if message is not None else "remove",
                    decision.REFUSAL_PROPERTY, decision.shown(image_id), e)


def _record_problems(context, properties, image):
    """What the core and the key manager say of ``properties`` before any
    data is read. A misconfigured guard is the plugin's to report."""
    try:
        guard = opts.guard(CONF)
    except _core.PolicyError:
        return []
    skipped = policies.skip_signature(
        context, policies.target(context, "import", image=image))
    verdict = guard.check_properties(properties, exempt=bool(skipped))
    problems = verdict["problems"]
    sig = verdict["plan"]["signature"]
    if sig and not problems:
        _, problems = signature.certificate_of(
            context, guard, sig, CONF.import_guard.trusted_certificate_ids)
    return problems


def _local_problems(context, image_id, _method):
    image = image_of(context, image_id)
    if image is None:
        return []  # gone since Glance read it: Glance answers
    return _record_problems(
        context, decision.properties_of(image.extra_properties), image)


def _remote_problems(context, image_id, method):
    image = image_of(context, image_id)
    if image is None:
        return []  # gone since Glance read it: its task fails on its own
    source = remote.Remote(method)
    record, fault = source.fetch(context, CONF.import_guard.remote_timeout)
    if fault:
        # A region that did not answer cannot be checked: try again later.
        # No such region or image is Glance's to answer (its download
        # task fails), as are an image that is not active or too big.
        return [fault] if source.unanswered else []
    properties = decision.properties_of(image.extra_properties)
    group = CONF.import_guard
    properties.update(decision.properties_of(remote.adoptable(
        properties, record,
        (group.hash_algo_property, group.hash_value_property))))
    problems = source.guard_problems(record)
    return problems + _record_problems(context, properties, image)
