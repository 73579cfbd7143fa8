"""``glance-import-guard doctor``: which doors of a Glance deployment let
an unsigned image become active, for callers who are not exempt.

It reads what glance-api reads and the way it reads it:

- glance-image-import.conf then glance-api.conf (and glance-api.conf.d),
  with oslo.config, as ``glance.common.wsgi_app`` loads them. Options are
  Glance's own definitions (``glance.common.config``), castellan's
  ``[key_manager]`` and the guard's; three are declared here as Glance and
  glance_store declare them, to avoid importing taskflow and every store
  driver: ``image_import_plugins``, ``[glance_store] stores`` and the
  eventlet-era ``workers``;
- the paste file Glance loads (``[paste_deploy] config_file``, else
  glance-api-paste.ini found as ``CONF.find_file`` finds it), read with
  configparser, followed from ``glance-api[-<flavor>]`` as paste.deploy
  and Glance's ``pipeline_factory`` would (glance/common/config.py,
  ``load_paste_app``; glance/api/__init__.py);
- the policy, with oslo.policy's Enforcer, Glance's registered defaults and
  the policy file, for a synthetic project member and a synthetic user
  whose token has the ``service`` role.

The rows themselves are in ``doctor_rows``.
"""

import collections
import configparser
import json
import os
import sys
import warnings

from oslo_concurrency import opts as concurrency_opts
from oslo_config import cfg, types

from glance_import_guard import opts

CLOSED, OPEN, WARNING = "closed", "open", "warning"
PROJECT = "0123456789abcdef0123456789abcdef"
USER = "fedcba9876543210fedcba9876543210"
POLICIES = ("upload_image", "add_image_location", "set_image_location",
            "tasks_api_access", "copy_image")
GUARD_FILTER = "glance_import_guard.middleware"
CONTEXT_FACTORIES = (
    "glance.api.middleware.context:ContextMiddleware.factory",
    "glance.api.middleware.context:UnauthenticatedContextMiddleware.factory")
# Apps behind which no image data can arrive: the versions document and the
# health check.
HARMLESS_APPS = ("glance.api.versions:create_resource",
                 "oslo_middleware:Healthcheck.app_factory")
APPS = (("app", "application"), ("composite", "composit"), ("pipeline",),
        ("filter-app",))
FILTERS = (("filter",),)

Row = collections.namedtuple("Row", "door status found fix")
Filter = collections.namedtuple("Filter", "name factory")
# A way from the served composite to an app: the section (and key) whose
# pipeline it took last, the filters on the way, the app's factory, and
# why it cannot be followed (or None).
Chain = collections.namedtuple("Chain", "label filters app problem")


class ConfigError(Exception):
    """The configuration cannot be read at all (exit status 2)."""


class Unreadable(Exception):
    """An option glance-api would fail to read, too."""


# As Glance declares them (glance/async_/flows/api_image_import.py,
# glance_store/backend.py, glance/common/wsgi.py before glance 29).
_MIRRORED = [
    ("image_import_opts", cfg.ListOpt(
        "image_import_plugins", item_type=types.String(quotes=True),
        bounds=True, default=[])),
    ("glance_store", cfg.ListOpt("stores", default=["file", "http"])),
    (None, cfg.IntOpt("workers")),
]


def load_conf(config_dir):
    """glance-api's options from ``config_dir``, parsed."""
    from castellan import key_manager
    from glance.common import config as glance_config
    if not os.path.isdir(config_dir):
        raise ConfigError("no config directory %s" % config_dir)
    api = os.path.join(config_dir, "glance-api.conf")
    if not os.path.isfile(api):
        raise ConfigError("no glance-api.conf in %s" % config_dir)
    files = [os.path.join(config_dir, "glance-image-import.conf"), api]
    files = [f for f in files if os.path.isfile(f)]
    conf_d = os.path.join(config_dir, "glance-api.conf.d")
    conf = cfg.ConfigOpts()
    conf.register_opts(glance_config.common_opts)
    conf.register_opts(glance_config.store_opts)
    conf.register_opts(glance_config.paste_deploy_opts, group="paste_deploy")
    for group, opt in _MIRRORED:
        conf.register_opt(opt, group=group)
    conf.register_opts(key_manager.key_manager_opts, group="key_manager")
    for group, options in concurrency_opts.list_opts():
        conf.register_opts(options, group=group)
    opts.register(conf)
    try:
        conf([], project="glance", prog="glance-api",
             default_config_files=files,
             default_config_dirs=[conf_d] if os.path.isdir(conf_d) else [])
    except cfg.Error as e:
        raise ConfigError(str(e)) from e
    return conf


def value(conf, name, group=None):
    """An option's value; ``Unreadable`` where glance-api would fail."""
    try:
        return (conf[group] if group else conf)[name]
    except (cfg.ConfigFileValueError, ValueError) as e:
        raise Unreadable("[%s] %s: %s" % (group or "DEFAULT", name, e)) from e


def is_set(conf, name, group=None):
    """Whether a file sets the option (rather than its default)."""
    where = conf.get_location(name, group)
    return where is not None and where.location != cfg.Locations.opt_default


def load_nova(path):
    """nova.conf's options the doctor reads, with Nova's defaults."""
    if not os.path.isfile(path):
        raise ConfigError("no nova config file %s" % path)
    nova = cfg.ConfigOpts()
    nova.register_opts([
        cfg.BoolOpt("verify_glance_signatures", default=False),
        cfg.BoolOpt("enable_certificate_validation", default=False),
        cfg.ListOpt("default_trusted_certificate_ids", default=[]),
    ], group="glance")
    nova.register_opt(cfg.BoolOpt("send_service_user_token", default=False),
                      group="service_user")
    try:
        nova([], project="nova", default_config_files=[path],
             default_config_dirs=[])
    except cfg.Error as e:
        raise ConfigError(str(e)) from e
    return nova


# -- the paste file --------------------------------------------------------

def paste_file(conf, config_dir):
    """(path or None, how it was found). Glance takes ``[paste_deploy]
    config_file``, else glance-api-paste.ini beside the last config file
    or in oslo.config's standard folders (``_get_deployment_config_file``);
    the copy pip installs under sys.prefix is only the doctor's last
    resort, to read the stock pipelines."""
    configured = conf.paste_deploy.config_file
    if configured:
        path = os.path.join(config_dir, configured)  # as-is if absolute
        return (path, "[paste_deploy] config_file") if os.path.isfile(
            path) else (None, "[paste_deploy] config_file %s does not exist"
                        % configured)
    found = conf.find_file("glance-api-paste.ini")
    if found:
        return found, "found by glance-api"
    for prefix in (sys.prefix, sys.base_prefix):
        shipped = os.path.join(prefix, "etc", "glance", "glance-api-paste.ini")
        if os.path.isfile(shipped):
            return shipped, ("the copy shipped with glance; glance-api "
                             "finds no paste file and will not start")
    return None, "no glance-api-paste.ini"


def read_paste(path):
    """The paste file as paste.deploy parses it (keys keep their case)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    with open(path, encoding="utf-8") as f:
        parser.read_file(f)
    return parser


def _find(parser, name, groups):
    """(section, None) or (None, why), as paste.deploy's
    ``find_config_section``: the first prefix of each group that names a
    section, and exactly one section over all groups."""
    possible = []
    for group in groups:
        for prefix in group:
            found = [s for s in parser.sections()
                     if s.startswith(prefix + ":")
                     and s[len(prefix) + 1:].strip() == name]
            if found:
                possible += found
                break
    if len(possible) == 1:
        return possible[0], None
    return None, ("no section for %r" % name if not possible else
                  "ambiguous sections %s for %r" % (
                      ", ".join("[%s]" % s for s in possible), name))


def _factory(section):
    for key in ("paste.filter_factory", "paste.app_factory",
                "paste.composite_factory", "use"):
        if key in section:
            return section[key].strip()
    return None


def chains(parser, flavor):
    """Every way from ``glance-api[-<flavor>]`` to an app."""

    def pipeline(names, filters, label, depth):
        for name in names[:-1]:
            section, problem = _find(parser, name, FILTERS)
            if problem:
                yield Chain(label, filters, None, problem.replace(
                    "section for", "[filter:%s] section for" % name))
                return
            filters = filters + [Filter(name, _factory(parser[section]))]
        yield from app(names[-1] if names else "", filters, label, depth + 1)

    def app(name, filters, label, depth):
        section, problem = _find(parser, name, APPS)
        if problem or depth > 20:
            yield Chain(label, filters, None, problem or "a loop")
            return
        items = parser[section]
        kind = section.partition(":")[0]
        if kind == "pipeline":
            yield from pipeline(items.get("pipeline", "").split(), filters,
                                "[%s]" % section, depth)
        elif kind == "filter-app":
            filters = filters + [Filter(name, _factory(items))]
            yield from app(items.get("next", ""), filters, label, depth + 1)
        elif kind.startswith("composit"):
            urls = [k for k in items if k.startswith("/")]
            key = flavor or "default"  # Glance's pipeline_factory
            for url in urls:
                yield from app(items[url].strip(), filters, label, depth + 1)
            if not urls and key in items:
                yield from pipeline(items[key].split(), filters,
                                    "[%s] %s" % (section, key), depth)
            elif not urls:
                yield Chain(label, filters, _factory(items),
                            "[%s] has no pipeline %r" % (section, key))
        else:
            yield Chain(label, filters, _factory(items), None)

    top = "glance-api" + ("-" + flavor if flavor else "")
    problem = _find(parser, top, APPS)[1]
    if problem:
        return [Chain("[paste_deploy] flavor = %s" % (flavor or ""), [], None,
                      "%s (no [composite:%s]): glance-api will not start" % (
                          problem, top))]
    seen, out = set(), []
    for chain in app(top, [], None, 0):
        key = (chain.label, tuple(chain.filters), chain.problem)
        if chain.app in HARMLESS_APPS and not chain.problem or key in seen:
            continue
        seen.add(key)
        out.append(chain)
    return out


def guard_filter_defined(parser):
    return any((_factory(parser[s]) or "").startswith(GUARD_FILTER)
               for s in parser.sections())


# -- the policy ------------------------------------------------------------

def policy_verdicts(conf):
    """({rule: (check string, member passes, service user passes)}, the
    policy file used or None)."""
    from glance import policies
    from oslo_context import context
    from oslo_policy import policy
    enforcer = policy.Enforcer(conf, use_conf=True, overwrite=False)
    enforcer.suppress_default_change_warnings = True
    enforcer.suppress_deprecation_warnings = True
    enforcer.register_defaults(policies.list_rules())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enforcer.load_rules()
    member = context.RequestContext(user_id=USER, project_id=PROJECT,
                                    roles=["member", "reader"])
    service = context.RequestContext(user_id=USER, project_id=PROJECT,
                                     roles=["service"])
    image = {"project_id": PROJECT, "owner": PROJECT,
             "visibility": "private", "status": "queued"}
    verdicts = {}
    for rule in POLICIES:
        # Glance's TasksAPIPolicy passes an empty target.
        target = {} if rule == "tasks_api_access" else image
        verdicts[rule] = (str(enforcer.rules.get(rule, "")),
                          bool(enforcer.enforce(rule, target, member)),
                          bool(enforcer.enforce(rule, target, service)))
    return verdicts, enforcer.policy_path


# -- the report ------------------------------------------------------------

class Deployment:
    """Everything the rows look at, read once."""

    def __init__(self, config_dir, nova_config=None):
        self.config_dir = config_dir
        self.conf = load_conf(config_dir)
        self.nova = load_nova(nova_config) if nova_config else None
        self.flavor = self.conf.paste_deploy.flavor
        self.paste_path, self.paste_source = paste_file(self.conf,
                                                        config_dir)
        self.paste_error, self.chains, self.filter_defined = None, [], False
        if self.paste_path:
            try:
                parser = read_paste(self.paste_path)
                self.chains = chains(parser, self.flavor)
                self.filter_defined = guard_filter_defined(parser)
            except (OSError, configparser.Error) as e:
                self.paste_error = "%s: %s" % (self.paste_path, e)
        else:
            self.paste_error = self.paste_source
        try:
            self.policies, self.policy_file = policy_verdicts(self.conf)
            self.policy_error = None
        except Exception as e:  # a malformed policy file, in any way
            self.policies, self.policy_file = {}, None
            self.policy_error = "%s: %s" % (type(e).__name__, e)


def render_text(rows, deployment):
    lines = ["glance-import-guard doctor: %s (flavor %s; paste file %s, "
             "%s)" % (deployment.config_dir, deployment.flavor or "none",
                      deployment.paste_path, deployment.paste_source)]
    for row in rows:
        lines.append("%-8s %s" % (row.status, row.door))
        lines.append("         found: %s" % row.found)
        if row.fix:
            lines.append("         fix:   %s" % row.fix)
    opened = sum(r.status == OPEN for r in rows)
    warned = sum(r.status == WARNING for r in rows)
    lines.append(
        "%d open, %d warning(s): %s" % (
            opened, warned,
            "unsigned images can become active" if opened else
            "every door is closed for callers who are not exempt"))
    return "\n".join(lines)


def run(config_dir, nova_config=None, fmt="text", out=None):
    """Prints the report; returns 0 if every door is closed, else 1.
    Raises ``ConfigError`` when the configuration cannot be read."""
    from glance_import_guard import doctor_rows
    deployment = Deployment(config_dir, nova_config)
    rows = doctor_rows.rows(deployment)
    out = out or sys.stdout
    if fmt == "json":
        print(json.dumps([r._asdict() for r in rows], indent=2), file=out)
    else:
        print(render_text(rows, deployment), file=out)
    return 1 if any(r.status == OPEN for r in rows) else 0
