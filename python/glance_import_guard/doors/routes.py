"""Every call of Glance's v2 API, as the guard classifies it.

Glance's v2 router (glance/api/v2/router.py) maps each route to a
``wsgi.Resource`` and an action; the resource calls that action on its
controller. The guard keys its decision on that pair, the one Glance
routed to: the ``_method`` override, the spelling of the path and the
HTTP method have all been resolved by Glance's own router by then.

Each pair is in exactly one class:

- ``DATA``: gives an image data (the value names the door);
- ``VERIFIED``: changes what was verified (signature properties, the
  declared digest, locations);
- ``NEITHER``: neither.

A pair in none of them is unknown: a route added by a newer Glance. The
guard refuses it for callers who are not exempt (fail closed), and
``tests/unit/test_routes.py`` fails on any route of the installed Glance
that is not classified here, so a new route fails a test, not a cloud.
The table covers glance 28 to 33: a pair that a release lacks is simply
never routed to.
"""

_V2 = "glance.api.v2."

#: Gives an image data: door name by (controller class, action).
DATA = {
    # PUT /v2/images/{id}/file: the body becomes the image's data.
    (_V2 + "image_data.ImageDataController", "upload"): "upload",
    # PUT /v2/images/{id}/stage: the body is staged for glance-direct;
    # the import plugin checks it, the guard records its digests.
    (_V2 + "image_data.ImageDataController", "stage"): "stage",
    # POST /v2/images/{id}/import: the import plugin checks the data;
    # a glance-download is checked on the remote record first.
    (_V2 + "images.ImagesController", "import_image"): "import",
    # POST /v2/images/{id}/locations: data from a URL, checked by nobody.
    (_V2 + "images.ImagesController", "add_location"): "location",
    # POST /v2/tasks: the legacy import, which runs no import plugin.
    (_V2 + "tasks.TasksController", "create"): "task",
}

#: Changes what was verified: door name by (controller class, action).
VERIFIED = {
    # PATCH /v2/images/{id}: signature properties, the declared digest and
    # /locations are among what a JSON patch may change.
    (_V2 + "images.ImagesController", "update"): "patch",
}


def _neither(controller, *actions):
    return {(_V2 + controller, action) for action in actions}


#: Neither gives data nor changes what was verified.
NEITHER = frozenset().union(
    # Creating an image record (queued, no data; Glance refuses
    # locations in it), reading, deleting and (de)activating images.
    _neither("images.ImagesController", "create", "index", "show",
             "delete", "get_task_info", "get_locations",
             "delete_from_store"),
    _neither("image_data.ImageDataController", "download"),
    _neither("image_actions.ImageActionsController", "deactivate",
             "reactivate"),
    _neither("image_members.ImageMembersController", "create", "delete",
             "index", "show", "update"),
    _neither("image_tags.Controller", "update", "delete"),
    # The cache holds copies of data that is already active.
    _neither("cached_images.CacheController", "clean_cache", "clear_cache",
             "delete_cache_entry", "get_cache_state", "get_cached_nodes",
             "prune_cache", "queue_image_from_api"),
    _neither("tasks.TasksController", "delete", "get", "index"),
    _neither("discovery.InfoController", "get_image_import", "get_stores",
             "get_stores_detail", "get_usage"),
    _neither("schemas.Controller", "image", "images", "member", "members",
             "metadef_namespace", "metadef_namespaces", "metadef_object",
             "metadef_objects", "metadef_properties", "metadef_property",
             "metadef_resource_type", "metadef_resource_types",
             "metadef_tag", "metadef_tags", "task", "tasks"),
    _neither("metadef_namespaces.NamespaceController", "create", "delete",
             "delete_objects", "delete_properties", "delete_tags", "index",
             "show", "update"),
    _neither("metadef_objects.MetadefObjectsController", "create", "delete",
             "index", "show", "update"),
    _neither("metadef_properties.NamespacePropertiesController", "create",
             "delete", "index", "show", "update"),
    _neither("metadef_resource_types.ResourceTypeController", "create",
             "delete", "index", "show"),
    _neither("metadef_tags.TagsController", "create", "create_tags",
             "delete", "index", "show", "update"),
    # Glance's answer to a method a path does not take (405).
    {("glance.common.wsgi.RejectMethodController", "reject")},
)

UNKNOWN = "unknown"

#: Deletes an image: Glance deletes its staged data too (and a worker
#: that did not stage it proxies the call to the one that did), so the
#: guard then forgets the digests it recorded at staging.
DELETES_IMAGE = frozenset({(_V2 + "images.ImagesController", "delete")})


def qualified_name(controller):
    cls = type(controller)
    return "%s.%s" % (cls.__module__, cls.__qualname__)


def door_of(controller, action):
    """The door of ``action`` on ``controller``: a name from ``DATA`` or
    ``VERIFIED``, None for a call that is neither, or ``UNKNOWN``."""
    key = (qualified_name(controller), action)
    if key in DATA:
        return DATA[key]
    if key in VERIFIED:
        return VERIFIED[key]
    return None if key in NEITHER else UNKNOWN


def deletes_image(controller, action):
    return (qualified_name(controller), action) in DELETES_IMAGE
