"""The guard inside Glance's own dispatch.

Glance's router (routes' ``RoutesMiddleware``, glance/common/wsgi.py
``Router``) picks a ``wsgi.Resource`` and an action for each request,
after the ``_method`` override and whatever spelling the path had. The
resource then calls its deserializer's action (Glance's own parsing and
validation of the body: the JSON patch of an image update in either media
type, normalized paths and all) and then the controller's action with what
the deserializer produced (glance/common/wsgi.py, ``Resource.__call__``
and ``Resource.dispatch``).

``install`` puts a ``GuardedResource`` in place of every resource of
every v2 router it finds below the paste filter, at the time paste builds
the pipeline. A ``GuardedResource`` is a ``wsgi.Resource`` with the same
controller, deserializer and serializer; the only difference is its
``dispatch`` of the controller's action, where the guard decides with
exactly what Glance is about to call (see ``doors.checks``). So the guard
never parses a request itself: what Glance routes to, the guard sees.
"""

from oslo_log import log as logging

from glance_import_guard.doors import checks, routes

LOG = logging.getLogger(__name__)


class GuardedResource:
    """Made by ``guarded`` (a subclass of Glance's ``wsgi.Resource``,
    created where glance is importable)."""


def _resource_class():
    from glance.common import wsgi

    class _GuardedResource(wsgi.Resource, GuardedResource):
        def __init__(self, resource):
            super().__init__(resource.controller, resource.deserializer,
                             resource.serializer)

        def dispatch(self, obj, action, *args, **kwargs):
            if obj is not self.controller:
                # The deserializer's and the serializer's calls.
                return super().dispatch(obj, action, *args, **kwargs)
            result = checks.call(
                routes.door_of(obj, action), args[0], kwargs,
                lambda **kw: super(_GuardedResource, self).dispatch(
                    obj, action, *args, **kw))
            if routes.deletes_image(obj, action):
                checks.deleted(kwargs.get("image_id"))
            return result

    return _GuardedResource


def _routers(app, seen):
    """Every v2 router reachable from ``app`` (a paste pipeline: glance's
    middleware keeps the next app as ``application``, paste's URLMap as
    ``applications``, most others as ``app``)."""
    from glance.api.v2 import router
    if id(app) in seen:
        return
    seen.add(id(app))
    if isinstance(app, router.API):
        yield app
        return
    for name in ("application", "app", "_app"):
        inner = getattr(app, name, None)
        if inner is not None and callable(inner):
            yield from _routers(inner, seen)
    for entry in getattr(app, "applications", None) or ():
        if isinstance(entry, tuple) and len(entry) == 2:
            yield from _routers(entry[1], seen)


def guard_router(router):
    """Replaces every resource of ``router``'s routes with a guarded one
    (idempotent); returns how many routes are guarded."""
    from glance.common import wsgi
    cls = None
    made = {}
    count = 0
    for route in router.map.matchlist:
        resource = route.defaults.get("controller")
        if isinstance(resource, GuardedResource):
            count += 1
            continue
        if not isinstance(resource, wsgi.Resource):
            continue  # the mapper's own redirect of '' to '/'
        if id(resource) not in made:
            cls = cls or _resource_class()
            made[id(resource)] = cls(resource)
        route.defaults["controller"] = made[id(resource)]
        count += 1
    checks.prepare(made.values())
    return count


def install(app):
    """Guards every v2 router below ``app``; raises when there is none,
    so that glance-api does not start with its doors open."""
    found = list(_routers(app, set()))
    if not found:
        raise RuntimeError(
            "import_guard found no Glance v2 router after it in the paste "
            "pipeline: put import_guard in the pipeline of the flavor "
            "glance-api serves, before rootapp")
    for router in found:
        LOG.info("import_guard guards %d routes of Glance's v2 API",
                 guard_router(router))
    return found
