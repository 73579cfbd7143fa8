"""What the doctor reads, read once: glance-api's options, nova.conf's,
the paste file (``paste``) and the policy, into a ``Deployment``.

- glance-image-import.conf then glance-api.conf (and glance-api.conf.d),
  with oslo.config, as ``glance.common.wsgi_app`` loads them, or the
  ``--config-file``/``--config-dir`` given (``config_args``). Options are
  Glance's own definitions (``glance.common.config``), castellan's
  ``[key_manager]`` and the guard's; four are declared here as Glance and
  glance_store declare them, to avoid importing taskflow and every store
  driver: ``image_import_plugins``, ``[glance_store] stores``, the
  eventlet-era ``workers`` and the staging store's folder;
- the policy, with oslo.policy's Enforcer, Glance's registered defaults and
  the policy file, for a synthetic project member and a synthetic user
  whose token has the ``service`` role.
"""

import configparser
import os
import warnings

from oslo_concurrency import opts as concurrency_opts
from oslo_config import cfg, types

from glance_import_guard import config_args, keymanager, opts
from glance_import_guard.doctor import paste

PROJECT = "0123456789abcdef0123456789abcdef"
USER = "fedcba9876543210fedcba9876543210"
POLICIES = ("upload_image", "add_image_location", "set_image_location",
            "tasks_api_access", "copy_image")


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
    # glance_store/multi_backend.py, register_store_opts: the reserved
    # staging store's folder.
    ("os_glance_staging_store", cfg.StrOpt(
        "filesystem_store_datadir",
        default="/var/lib/glance/os_glance_staging_store")),
]


def load_conf(oslo_args=()):
    """glance-api's options, parsed from oslo.config's ``--config-file``
    and ``--config-dir`` arguments ``oslo_args`` (none: the files and
    folders glance-api reads, ``config_args``)."""
    from castellan import key_manager
    from glance.common import config as glance_config
    conf = cfg.ConfigOpts()
    conf.register_opts(glance_config.common_opts)
    conf.register_opts(glance_config.store_opts)
    conf.register_opts(glance_config.paste_deploy_opts, group="paste_deploy")
    for group, opt in _MIRRORED:
        conf.register_opt(opt, group=group)
    conf.register_opts(key_manager.key_manager_opts, group="key_manager")
    conf.register_opts(keymanager.certificate_directory_opts,
                       group=keymanager.GROUP)
    for group, options in concurrency_opts.list_opts():
        conf.register_opts(options, group=group)
    opts.register(conf)
    try:
        config_args.parse(conf, oslo_args)
    except cfg.Error as e:
        raise ConfigError("cannot read glance-api's configuration: %s" % e
                          ) from e
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


class Deployment:
    """Everything the rows look at, read once."""

    def __init__(self, oslo_args=(), nova_config=None, glance_user="glance"):
        oslo_args = list(oslo_args)
        self.conf = load_conf(oslo_args)
        # The files read, and the folder of the last one (glance-api.conf):
        # where Glance looks for the paste file and the policy file.
        self.config_files = list(self.conf.config_file)
        given = [v for o, v in zip(oslo_args[::2], oslo_args[1::2])
                 if o == "--config-dir"]
        self.config_dirs = given or [
            d for d in self.conf.default_config_dirs if os.path.isdir(d)]
        self.config_dir = os.path.dirname(os.path.abspath(
            self.config_files[-1])) if self.config_files else "."
        self.glance_user = glance_user
        self.nova = load_nova(nova_config) if nova_config else None
        self.flavor = self.conf.paste_deploy.flavor
        self.paste_path, self.paste_source = paste.paste_file(
            self.conf, self.config_dir)
        self.paste_error, self.chains, self.filter_defined = None, [], False
        if self.paste_path:
            try:
                parser = paste.read_paste(self.paste_path)
                self.chains = paste.chains(parser, self.flavor)
                self.filter_defined = paste.guard_filter_defined(parser)
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
