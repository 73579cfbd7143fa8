"""The ``import_guard`` paste filter: the doors other than import.

The import plugin sees only imports. Images also get data through
``PUT /v2/images/{id}/file`` (what ``openstack image create --file`` does),
through the locations API, and through the legacy tasks API; and what was
verified could change through an image PATCH. In ``glance-api-paste.ini``::

    [filter:import_guard]
    paste.filter_factory = glance_import_guard.middleware:filter_factory

and ``import_guard`` in the pipeline of the flavor glance-api serves,
before ``rootapp`` (e.g. right after ``context``).

The filter reads no request itself. When paste builds the pipeline, it
finds Glance's v2 router below it and puts the guard into Glance's own
dispatch of every route (``doors.resource``): each decision is taken on
the action Glance routed to (after the ``_method`` override and whatever
spelling the path had), on the arguments Glance's own deserializer
produced, and at the call Glance is about to make (``doors.checks`` says
what happens at each door; ``doors.routes`` classifies every call). If it
finds no v2 router, glance-api does not start.

Per request, the filter only closes the connection after the guard refused
a body it did not read to its end, so that the client's next request
cannot be taken from the rest of that body.
"""

from oslo_config import cfg

from glance_import_guard import opts
from glance_import_guard.doors import resource
from glance_import_guard.doors.common import REFUSED

CONF = cfg.CONF
opts.register(CONF)


class ImportGuardFilter:
    """The WSGI filter (see the module's doc)."""

    def __init__(self, app):
        self.app = app
        resource.install(app)

    def __call__(self, environ, start_response):
        def respond(status, headers, exc_info=None):
            if environ.get(REFUSED):
                headers = [h for h in headers
                           if h[0].lower() != "connection"]
                headers.append(("Connection", "close"))
            return start_response(status, headers, exc_info)

        return self.app(environ, respond)


def filter_factory(global_conf, **local_conf):
    """The ``paste.filter_factory`` entry point."""
    return ImportGuardFilter
