"""The doctor's rows for nova.conf (``--nova-config``): whether Nova
verifies what it boots, and whether its snapshots reach Glance with the
service token the ``import_guard:bypass`` rule (or the deprecated
``exempt_service_roles``) lets through.
"""

from glance_import_guard import policies
from glance_import_guard.doctor import policy
from glance_import_guard.doctor.rows import CLOSED, WARNING, Row, service_roles


def _service_tokens_exempt(d):
    """Whether glance-api lets some service token through: the bypass
    rule exempts someone, or the deprecated option is set."""
    if service_roles(d):
        return True
    try:
        found, _ = policy.effective(d.conf)
    except Exception:
        return False  # the policy rows say the policy cannot be read
    return any(rule == policies.BYPASS and check.strip() != "!"
               for rule, check, _, _ in found)


def rows(d):
    if d.nova is None:
        return []
    glance = d.nova.glance
    out = []
    if glance.verify_glance_signatures:
        out.append(Row("nova signatures", CLOSED,
                       "[glance] verify_glance_signatures = true", None))
    else:
        out.append(Row("nova signatures", WARNING, "[glance] verify_glance_"
                       "signatures = false: Nova boots unsigned images",
                       "set [glance] verify_glance_signatures = true in "
                       "nova.conf"))
    ids = list(glance.default_trusted_certificate_ids)
    found = "[glance] enable_certificate_validation = %s, default_trusted_" \
        "certificate_ids = %s" % (
            str(glance.enable_certificate_validation).lower(),
            ", ".join(ids) or "(empty)")
    if glance.enable_certificate_validation and not ids:
        out.append(Row("nova certificates", WARNING, found + ": boots "
                       "without trusted ids per server fail",
                       "set [glance] default_trusted_certificate_ids in "
                       "nova.conf"))
    else:
        out.append(Row("nova certificates", CLOSED, found, None))
    sends = d.nova.service_user.send_service_user_token
    found = "[service_user] send_service_user_token = %s" % (
        str(sends).lower())
    if not sends and _service_tokens_exempt(d):
        out.append(Row("nova service token", WARNING, found + ": Nova "
                       "snapshots will be refused, no service token "
                       "reaches Glance",
                       "set [service_user] send_service_user_token = true "
                       "in nova.conf"))
    else:
        out.append(Row("nova service token", CLOSED, found, None))
    return out
