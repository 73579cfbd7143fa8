"""A glance-download checked on the remote image's record before Glance
downloads anything, after all of Glance's own checks.

Refused here: what the guard itself refuses on the record (no signature
where one is required, malformed signature properties, no
``os_hash_value``), and a region that does not answer (try again later:
the guard cannot check, and fails closed). Left to Glance, whose download
task fails on its own: a region or remote image that does not exist or
that the caller cannot see, an image that is not active or too big.

NOTE: ``ImagesController.import_image`` (glance/api/v2/images.py) checks
the request (the image exists and is ``queued``, the caller may modify it,
the remote image id is a UUID, no other import holds the lock, the
stores exist) and only then calls its gateway's task factory's
``new_task(task_type='api_image_import', task_input={'image_id',
'import_req', 'backend'}, ...)``, before it takes the import lock and
starts the task. The guard checks there: a refusal raised from
``new_task`` is a 400 with the guard's message, no task is created, no
lock taken and the image stays ``queued``. The same code in glance 28 to
33.
"""

from oslo_config import cfg
from oslo_log import log as logging

from glance_import_guard import _core, decision, opts, remote
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


def check(context, task_input):
    """Raises the refusal of a glance-download that the record alone
    refuses (see ``remote``)."""
    if not CONF.import_guard.check_before_download:
        return
    body = (task_input or {}).get("import_req") or {}
    method = body.get("method") if isinstance(body, dict) else None
    if not isinstance(method, dict) or \
            method.get("name") != "glance-download":
        return
    image_id = (task_input or {}).get("image_id")
    if exemption(context, "precheck"):
        return
    try:
        problems = _problems(context, image_id, method)
    except Exception:
        LOG.exception("import_guard failed while checking the glance-"
                      "download of image %s; refusing it",
                      decision.shown(image_id))
        raise guard_failed(image_id) from None
    if problems:
        raise refusal(context, image_id, problems, "precheck")


def _problems(context, image_id, method):
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
    try:
        guard = opts.guard(CONF)
    except _core.PolicyError:
        return source.guard_problems(record)  # the plugin says the rest
    return source.guard_problems(record) + guard.check_properties(
        properties, context.roles or [])["problems"]
