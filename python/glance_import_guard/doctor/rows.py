"""The doctor's rows for glance-api: one ``Row`` per door, each from a
``Deployment`` (nova.conf's rows are in ``nova``).

A row is ``closed`` when the door is shut for callers who are not exempt,
``open`` when an unsigned image can get through it (or glance-api would
refuse every import, or not start), ``warning`` when it needs a look but
lets nothing unsigned through.
"""

import collections
import os
from importlib import metadata

from oslo_config import cfg

from glance_import_guard import _core, opts
from glance_import_guard.doctor import policy
from glance_import_guard.doctor.deployment import is_set, value
from glance_import_guard.doctor.paste import CONTEXT_FACTORIES, GUARD_FILTER

CLOSED, OPEN, WARNING = "closed", "open", "warning"
Row = collections.namedtuple("Row", "door status found fix")
PLUGIN = "import_guard"
# Plugins that rewrite the staged data: the guard after them checks bytes
# nobody signed.
REWRITING_PLUGINS = ("image_conversion", "image_decompression")
DATA_METHODS = ("glance-direct", "web-download", "glance-download")
FILTER_SECTION = ("[filter:import_guard] with paste.filter_factory = "
                  "glance_import_guard.middleware:filter_factory")


def _list(values):
    return "[%s]" % ", ".join(values)


def plugin_fix(plugins):
    rest = [p for p in plugins if p != PLUGIN]
    return "set [image_import_opts] image_import_plugins = %s" % _list(
        [PLUGIN] + rest)


def plugin(d):
    plugins = value(d.conf, "image_import_plugins", "image_import_opts")
    found = "[image_import_opts] image_import_plugins = %s" % _list(plugins)
    if PLUGIN not in plugins:
        return Row("import plugin", OPEN, found + ": imports run unchecked",
                   plugin_fix(plugins))
    before = [p for p in plugins[:plugins.index(PLUGIN)]
              if p in REWRITING_PLUGINS]
    if before:
        return Row("import plugin", WARNING, found + ": %s rewrites the "
                   "staged data before the guard checks it, so signed "
                   "images are refused" % ", ".join(before),
                   plugin_fix(plugins))
    return Row("import plugin", CLOSED, found, None)


def _chain_verdict(chain, defined):
    """(ok, what was found, the fix) for one pipeline."""
    names = [f.name for f in chain.filters]
    label = chain.label or "the pipeline"
    found = "%s: filters %s" % (label, " ".join(names) or "(none)")
    if chain.problem:
        return False, "%s: %s" % (label, chain.problem), (
            "correct %s" % label)
    guard = [i for i, f in enumerate(chain.filters)
             if (f.factory or "").startswith(GUARD_FILTER)]
    context = [i for i, f in enumerate(chain.filters)
               if f.factory in CONTEXT_FACTORIES]
    after = names[context[-1]] if context else "context"
    if not guard:
        fix = 'add "import_guard" after "%s" in %s' % (after, label)
        if not defined:
            fix += "; add " + FILTER_SECTION
        return False, found + " (no import_guard)", fix
    # NOTE: anywhere in the pipeline is right: the filter guards Glance's
    # v2 router below it, whose resources see the request context however
    # the filters are ordered (doors/resource.py).
    return True, found, None


def upload_filter(d):
    if d.paste_error:
        return Row("upload filter", OPEN, d.paste_error,
                   "point [paste_deploy] config_file at glance-api's paste "
                   "file")
    verdicts = [_chain_verdict(c, d.filter_defined) for c in d.chains]
    if not verdicts:
        return Row("upload filter", OPEN, "no pipeline reaches the API "
                   "from glance-api-%s" % d.flavor, None)
    found = "; ".join(v[1] for v in verdicts)
    fixes = list(dict.fromkeys(v[2] for v in verdicts if v[2]))
    if fixes:
        return Row("upload filter", OPEN, found, "; ".join(fixes))
    return Row("upload filter", CLOSED, found, None)


def filter_in_place(d):
    return (not d.paste_error and bool(d.chains)
            and all(_chain_verdict(c, True)[0] for c in d.chains))


def guard_options(d):
    try:
        group = d.conf[opts.GROUP]
        _core.Guard(opts.policy(d.conf))
    except (_core.PolicyError, cfg.ConfigFileValueError, ValueError) as e:
        return Row("guard options", OPEN, "[import_guard]: %s; the guard "
                   "refuses every import (guard-misconfigured)" % e,
                   "correct [import_guard] in glance-api.conf")
    if not group.require_signature:
        return Row("guard options", OPEN, "[import_guard] require_signature"
                   " = false: unsigned images are imported",
                   "set [import_guard] require_signature = true")
    missing = [p for p in _core.SIGNATURE_PROPERTIES
               if p not in group.required_signature_properties]
    if missing:
        return Row("guard options", OPEN, "[import_guard] required_signature"
                   "_properties leaves out %s: images without it are "
                   "imported unverified" % ", ".join(missing),
                   "add %s to [import_guard] required_signature_properties"
                   % ", ".join(missing))
    return Row("guard options", CLOSED, "[import_guard] valid; signatures "
               "required", None)


def import_methods(d):
    methods = value(d.conf, "enabled_import_methods")
    data = [m for m in methods if m in DATA_METHODS]
    found = "[DEFAULT] enabled_import_methods = %s" % _list(methods)
    listed = PLUGIN in value(d.conf, "image_import_plugins",
                             "image_import_opts")
    if data and not listed:
        return Row("import methods", OPEN, found + ": %s run no guard" %
                   ", ".join(data), plugin_fix([]))
    note = ("; %s checked by the plugin" % ", ".join(data)) if data else ""
    if "copy-image" in methods:
        note += "; copy-image copies active images, no new data"
    return Row("import methods", CLOSED, found + note, None)


_POLICY_DOORS = {
    "upload_image": "PUT /v2/images/{id}/file stores data no import plugin "
                    "sees",
    "add_image_location": "POST /v2/images/{id}/locations makes a queued "
                          "image active from a location",
    "set_image_location": "PATCH of /locations makes a queued image active "
                          "from a location",
    "tasks_api_access": "POST /v2/tasks (type import) runs no import plugin",
    "copy_image": "copy-image copies an active image to more stores",
}


# What to set instead, if not the filter: admins only, and services
# (Nova) for locations.
_STRICTER = {"upload_image": "rule:context_is_admin",
             "add_image_location": "rule:service_api",
             "set_image_location": "rule:context_is_admin",
             "tasks_api_access": "rule:context_is_admin"}


def policy_rows(d):
    if d.policy_error:
        return [Row("policy " + r, OPEN, "cannot evaluate the policy: " +
                    d.policy_error, "correct the policy file")
                for r in _POLICY_DOORS]
    where = d.policy_file or os.path.join(
        d.config_dir, d.conf.oslo_policy.policy_file)
    filtered = filter_in_place(d)
    http = http_store(d)
    multiple = value(d.conf, "show_multiple_locations")
    rows = []
    for rule, door in _POLICY_DOORS.items():
        check, member, service = d.policies[rule]
        found = '"%s": "%s" (%s); member: %s, service user: %s' % (
            rule, check, d.policy_file or "Glance's default",
            "allowed" if member else "denied",
            "allowed" if service else "denied")
        fix = None
        if not member:
            status = CLOSED
        elif rule == "copy_image":
            status, found = WARNING, found + "; " + door + " (no new data)"
        elif rule == "add_image_location" and not http:
            status, found = CLOSED, found + "; Glance refuses members' "\
                "location adds without the http store"
        elif rule == "set_image_location" and not multiple:
            status, found = CLOSED, found + "; Glance refuses PATCH of "\
                "/locations while show_multiple_locations is false"
        elif filtered:
            status, found = CLOSED, found + "; the import_guard filter "\
                "checks it"
        else:
            status, found = OPEN, found + "; " + door
            fix = ('add the import_guard filter (see "upload filter"), or '
                   'set "%s": "%s" in %s' % (rule, _STRICTER[rule], where))
        rows.append(Row("policy " + rule, status, found, fix))
    return rows


def http_store(d):
    backends = value(d.conf, "enabled_backends")
    if backends:  # as glance.common.utils.is_http_store_configured
        return "http" in backends.values()
    return "http" in value(d.conf, "stores", "glance_store")


def locations(d):
    filtered = filter_in_place(d)
    rows = []
    if value(d.conf, "show_multiple_locations"):
        found = "[DEFAULT] show_multiple_locations = true"
        if filtered:
            rows.append(Row("show_multiple_locations", WARNING, found +
                            ": the import_guard filter refuses location "
                            "changes; locations are still shown", None))
        else:
            rows.append(Row("show_multiple_locations", OPEN, found +
                            ": members may set locations of queued images",
                            "set [DEFAULT] show_multiple_locations = false"))
    else:
        rows.append(Row("show_multiple_locations", CLOSED,
                        "[DEFAULT] show_multiple_locations = false", None))
    if value(d.conf, "show_image_direct_url"):
        rows.append(Row("show_image_direct_url", WARNING,
                        "[DEFAULT] show_image_direct_url = true: leaks store "
                        "locations", "set [DEFAULT] show_image_direct_url = "
                        "false"))
    else:
        rows.append(Row("show_image_direct_url", CLOSED,
                        "[DEFAULT] show_image_direct_url = false", None))
    backends = value(d.conf, "enabled_backends")
    where = ("[DEFAULT] enabled_backends = %s" % ", ".join(
        "%s:%s" % kv for kv in backends.items()) if backends else
        "[glance_store] stores = %s" % ", ".join(
            value(d.conf, "stores", "glance_store")))
    if not http_store(d):
        rows.append(Row("http store", CLOSED, where + " (no http)", None))
    elif filtered:
        rows.append(Row("http store", CLOSED, where + ": the import_guard "
                        "filter refuses http locations", None))
    else:
        rows.append(Row("http store", WARNING, where + ": a member may add "
                        "http locations where policy allows",
                        "add the import_guard filter, or remove http from "
                        + where.split(" = ")[0]))
    return rows


def lock_path(d):
    """NOTE: POST /v2/images/{id}/locations (add_image_location, glance
    29+: Nova's RBD snapshots) runs a task under an oslo.concurrency lock,
    which needs [oslo_concurrency] lock_path (or OSLO_LOCK_PATH):
    without it the task fails with RequiredOptError."""
    path = value(d.conf, "lock_path", "oslo_concurrency")
    if path:
        return Row("lock path", CLOSED,
                   "[oslo_concurrency] lock_path = %s" % path, None)
    return Row("lock path", WARNING, "[oslo_concurrency] lock_path is not "
               "set: adding a location (Nova's RBD snapshots) fails with "
               "RequiredOptError", "set [oslo_concurrency] lock_path = "
               "/var/lib/glance/lock")


def _castellan_drivers():
    found = metadata.entry_points()
    if hasattr(found, "select"):  # Python 3.10+
        return {e.name for e in found.select(group="castellan.drivers")}
    return {e.name for e in found.get("castellan.drivers", ())}


def key_manager(d):
    backend = value(d.conf, "backend", "key_manager")
    drivers = _castellan_drivers()
    fix = ("set [key_manager] backend = barbican (or certificate_directory)"
           " in glance-api.conf")
    if not is_set(d.conf, "backend", "key_manager"):
        return Row("key manager", WARNING, "[key_manager] backend unset "
                   "(castellan assumes barbican): without a key manager "
                   "signatures cannot be verified and imports are refused",
                   fix)
    if not backend or backend not in drivers:
        return Row("key manager", WARNING, "[key_manager] backend = %s: no "
                   "such castellan driver here (%s); signatures cannot be "
                   "verified, imports are refused" % (
                       backend or "(empty)", ", ".join(sorted(drivers))),
                   fix)
    return Row("key manager", CLOSED, "[key_manager] backend = %s" % backend,
               None)


def workers(d):
    count = value(d.conf, "workers")
    url = value(d.conf, "worker_self_reference_url")
    found = "[DEFAULT] workers = %s, worker_self_reference_url = %s" % (
        "unset" if count is None else count, url or "unset")
    if count is not None and count > 1 and not url:
        return Row("workers", WARNING, found + ": glance-direct imports may "
                   "be proxied between workers",
                   "set [DEFAULT] worker_self_reference_url = "
                   "http://<this worker>:9292")
    return Row("workers", CLOSED, found, None)


def service_roles(d):
    try:
        return list(d.conf[opts.GROUP].exempt_service_roles)
    except (cfg.NoSuchOptError, AttributeError):
        return []


def exemptions(d):
    return [_option_exemptions(d)] + [Row(*r) for r in policy.rows(d)]


def _option_exemptions(d):
    group = d.conf[opts.GROUP]
    service, roles = service_roles(d), list(group.exempt_roles)
    found = []
    if service:
        found.append("exempt_service_roles = %s: holders of such a service "
                     "token upload, locate and import unsigned images "
                     "(e.g. Nova snapshots)" % ", ".join(service))
    if roles:
        found.append("exempt_roles = %s: their imports need no signature"
                     % ", ".join(roles))
    if not found:
        return Row("exemptions", CLOSED, "[import_guard] nobody is exempt",
                   None)
    return Row("exemptions", WARNING, "[import_guard] " + "; ".join(found),
               None)
