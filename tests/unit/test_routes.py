"""The door inventory, taken from the installed Glance's own v2 router.

Every route of ``glance.api.v2.router.API`` must be classified by the
guard (``doors.routes``): a route a future Glance adds fails here, not in a
cloud. Then every request form Glance's router accepts (each HTTP method,
HEAD, and the ``_method`` override from every method) is sent through
Glance's real ``RoutesMiddleware`` over the guarded router: whatever Glance
routes it to is a guarded resource and a classified action. The release
matrix runs this file on every glance from 28 to 33.
"""

import pytest
import routes
import webob
from glance.api.v2 import router as v2_router
from glance.common import wsgi

from glance_import_guard.doors import resource
from glance_import_guard.doors import routes as door_routes

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# Values for the path variables of Glance's routes.
SAMPLE = {"image_id": "0a7cfd22-35a5-4d65-8f3c-1d1b1d2a9c11",
          "member_id": "m", "tag_value": "t", "namespace": "n",
          "object_name": "o", "property_name": "p", "resource_type": "r",
          "tag_name": "t", "task_id": "0a7cfd22-35a5-4d65-8f3c-1d1b1d2a9c12",
          "store_id": "s"}


def _router(glance_db):
    return v2_router.API(routes.Mapper())


def _pairs(router):
    for route in router.map.matchlist:
        controller = route.defaults.get("controller")
        if isinstance(controller, (wsgi.Resource, resource.GuardedResource)):
            yield route, (door_routes.qualified_name(controller.controller),
                          route.defaults.get("action"))


def test_every_route_of_glances_v2_router_is_classified(glance_db):
    known = (set(door_routes.DATA) | set(door_routes.VERIFIED) |
             door_routes.NEITHER)
    found = {pair for _, pair in _pairs(_router(glance_db))}
    assert len(found) > 40  # the router really was read
    unclassified = sorted(found - known)
    assert not unclassified, (
        "routes of this Glance the guard has not classified (add each to "
        "glance_import_guard/doors/routes.py): %s" % unclassified)


def test_the_classes_do_not_overlap():
    data, verified = set(door_routes.DATA), set(door_routes.VERIFIED)
    assert not data & verified
    assert not (data | verified) & door_routes.NEITHER


def test_an_unknown_action_is_unknown_not_let_through():
    controller = wsgi.RejectMethodController()
    assert door_routes.door_of(controller, "reject") is None
    assert door_routes.door_of(controller, "new_action") == \
        door_routes.UNKNOWN


def test_every_route_is_replaced_by_a_guarded_resource(glance_db):
    router = _router(glance_db)
    count = resource.guard_router(router)
    routed = [route for route, _ in _pairs(router)]
    assert count == len(routed)
    assert all(isinstance(route.defaults["controller"],
                          resource.GuardedResource) for route in routed)
    # The same Glance resource shared by several routes stays one object.
    assert resource.guard_router(router) == count


def _paths(router):
    for route in router.map.matchlist:
        if route.routepath:
            yield route.routepath.format(**SAMPLE)


def _forms(path):
    for method in METHODS:
        yield method, path, ""
        for override in METHODS:
            yield method, path, "_method=%s" % override


def test_every_request_form_lands_on_a_guarded_classified_action(
        glance_db):
    """Each method, HEAD and every ``_method`` override of every route's
    path, routed by Glance's own RoutesMiddleware."""
    router = _router(glance_db)
    resource.guard_router(router)
    landed = {}

    def app(environ, start_response):
        match = environ["wsgiorg.routing_args"][1]
        landed[key] = match
        start_response("204 No Content", [])
        return []

    middleware = routes.middleware.RoutesMiddleware(app, router.map)
    forms = 0
    for method, path, query in (f for p in set(_paths(router))
                                for f in _forms(p)):
        key = (method, path, query)
        environ = webob.Request.blank(
            path + ("?" + query if query else ""),
            environ={"REQUEST_METHOD": method}).environ
        middleware(environ, lambda *a: None)
        forms += 1
    assert forms > 1000
    routed = {k: m for k, m in landed.items() if m and m.get("controller")}
    # The override is honoured: a GET with _method=PUT reaches the upload.
    upload = routed[("GET", "/images/%s/file" % SAMPLE["image_id"],
                     "_method=PUT")]
    assert upload["action"] == "upload"
    for key, match in routed.items():
        controller = match["controller"]
        assert isinstance(controller, resource.GuardedResource), key
        assert door_routes.door_of(controller.controller, match["action"]) \
            != door_routes.UNKNOWN, key


def test_the_filter_refuses_to_start_without_a_v2_router_below_it():
    from glance_import_guard import middleware

    def app(environ, start_response):
        return []

    with pytest.raises(RuntimeError, match="no Glance v2 router"):
        middleware.filter_factory({})(app)
