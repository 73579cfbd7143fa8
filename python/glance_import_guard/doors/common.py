"""What every door shares: who is exempt, how a refusal is made, how an
image is read."""

import webob.exc
from oslo_config import cfg
from oslo_log import log as logging

from glance_import_guard import _core, decision, opts, policies

LOG = logging.getLogger("glance_import_guard.doors")
CONF = cfg.CONF
opts.register(CONF)

#: environ key: set when the guard refused a request's body.
REFUSED = "import_guard.refused"


def exemption(context, door, image_id=None):
    """What exempts the caller at ``door`` (empty: nothing), on the image
    ``image_id`` (None: no image yet): the rule ``import_guard:bypass``
    (or the service token's roles in ``exempt_service_roles``) everywhere;
    ``import_guard:skip_signature`` (or the user's roles in
    ``exempt_roles``) only at the doors that do not read data, the
    core weighs it at the others (``policies``). Role names for the
    options, the rule's name for a rule."""
    target = policies.target(context, door, image_id=image_id)
    found = policies.bypass(context, target)
    if not found and door not in policies.DATA_DOORS:
        found = policies.skip_signature(context, target)
    return found


def refuse_door(context, image_id, door, code, message):
    """The 403 of a request ``door`` does not take (``code``)."""
    return webob.exc.HTTPForbidden(explanation=decision.refusal(
        LOG, decision.shown(image_id) if image_id else None, context,
        [_core.problem(code, message)], door))


def refusal(context, image_id, problems, door):
    """The 400 of a request to ``door`` that ``problems`` refuse."""
    message = decision.refusal(LOG, image_id, context, problems, door)
    # NOTE: raised from the body's read(), HTTPBadRequest makes Glance
    # delete what it stored, put the image back to queued and answer 400
    # with this message (glance/api/v2/image_data.py, upload).
    return webob.exc.HTTPBadRequest(explanation=message)


def image_of(context, image_id):
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
