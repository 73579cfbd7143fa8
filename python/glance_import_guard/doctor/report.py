"""Running the doctor: every row for a ``Deployment``, in order, and the
report (a table or JSON) with its exit status."""

import json
import sys

from glance_import_guard.doctor import nova, permissions, rows
from glance_import_guard.doctor.deployment import Deployment, Unreadable
from glance_import_guard.doctor.rows import OPEN, WARNING, Row

# Each door's rows, in the report's order.
CHECKS = (
    ("import plugin", rows.plugin), ("upload filter", rows.upload_filter),
    ("guard options", rows.guard_options),
    ("import methods", rows.import_methods), ("policy", rows.policy_rows),
    ("locations", rows.locations), ("lock path", rows.lock_path),
    ("key manager", rows.key_manager),
    ("workers", rows.workers), ("exemptions", rows.exemptions),
    ("permissions", permissions.rows),
    ("nova", nova.rows))


def _guarded(door, function, d):
    try:
        result = function(d)
    except Unreadable as e:
        return [Row(door, OPEN, "cannot read %s (glance-api cannot either)"
                    % e, "correct it")]
    return result if isinstance(result, list) else [result]


def check(d):
    """Every row for the ``Deployment`` ``d``."""
    out = []
    for door, function in CHECKS:
        out += _guarded(door, function, d)
    return out


def render_text(found, deployment):
    lines = ["glance-import-guard doctor: %s (flavor %s; paste file %s, "
             "%s)" % (", ".join(deployment.config_files + [
                 d + "/*.conf" for d in deployment.config_dirs]),
                 deployment.flavor or "none", deployment.paste_path,
                 deployment.paste_source)]
    for row in found:
        lines.append("%-8s %s" % (row.status, row.door))
        lines.append("         found: %s" % row.found)
        if row.fix:
            lines.append("         fix:   %s" % row.fix)
    opened = sum(r.status == OPEN for r in found)
    warned = sum(r.status == WARNING for r in found)
    lines.append(
        "%d open, %d warning(s): %s" % (
            opened, warned,
            "unsigned images can become active" if opened else
            "every door is closed for callers who are not exempt"))
    return "\n".join(lines)


def run(oslo_args=(), nova_config=None, fmt="table", out=None,
        glance_user="glance"):
    """Prints the report; returns 0 if every door is closed, else 1.
    ``oslo_args``: oslo.config's ``--config-file``/``--config-dir``
    arguments (none: glance-api's files). Raises ``ConfigError`` when the
    configuration cannot be read."""
    deployment = Deployment(oslo_args, nova_config, glance_user)
    found = check(deployment)
    out = out or sys.stdout
    if fmt == "json":
        print(json.dumps([r._asdict() for r in found], indent=2), file=out)
    else:
        print(render_text(found, deployment), file=out)
    return 1 if any(r.status == OPEN for r in found) else 0
