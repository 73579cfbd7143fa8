"""Who is exempt from the guard: two oslo.policy rules, which operators set
in Glance's own policy file (``[oslo_policy] policy_file``, policy.yaml),
beside Glance's rules, with scope and project conditions.

- ``import_guard:skip_signature`` (default ``!``: nobody): the caller's
  uploads and imports need no signature. A declared digest is still
  checked, and so are the values of any signature properties that are
  set. The doors that only refuse (a PATCH of verified properties, the
  locations API, the tasks API, a glance-download's pre-check) let the
  caller through.
- ``import_guard:bypass`` (default ``!``: nobody): the paste filter lets
  the caller's requests through untouched at every door: Glance answers
  as it would without the guard. Key it on a service token
  (``service_roles:service``, for Nova's snapshots and Cinder's
  upload-to-image, which carry no signature).

The target a rule is checked against (``target``) has

- ``door``: ``upload``, ``stage``, ``import``, ``patch``, ``location``,
  ``task``, ``precheck`` (a glance-download's pre-check) or ``unknown``;
- ``project_id`` and ``owner``: the project that owns the image; the
  caller's own project where there is no image yet (a task, a new image);
- ``image_id``, and every other key of Glance's own image target
  (``visibility``, ``status``, ``member``, the extra properties: see
  glance.api.policy.ImageTarget), read only when a rule asks for them.

The credentials are Glance's, from the request context: ``roles``
(lower-cased by Glance), ``project_id``, ``user_id``, ``system_scope``,
``service_roles`` (a service token's roles, exactly as Keystone gives
them; set only by keystonemiddleware, from a valid service token) and
so on. oslo.policy's generic check looks a value up in a list, so
``service_roles:service`` holds when the service token has the role.

``[import_guard] exempt_roles`` and ``exempt_service_roles``, deprecated,
still exempt too: ``exempt_roles = a, b`` works as ``"role:a or role:b"``
added to ``import_guard:skip_signature``, ``exempt_service_roles = s`` as
``"service_roles:s"`` added to ``import_guard:bypass``. A warning says so
once per process.

``list_rules`` is the ``oslo.policy.policies`` entry point
(``oslopolicy-sample-generator --namespace glance_import_guard``),
``get_enforcer`` the ``oslo.policy.enforcer`` one
(``oslopolicy-policy-generator --namespace glance_import_guard``: Glance's
effective policy with the guard's rules).
"""

import threading
from collections import abc

from oslo_config import cfg
from oslo_log import log as logging
from oslo_policy import policy

from glance_import_guard import opts

LOG = logging.getLogger(__name__)
CONF = cfg.CONF
opts.register(CONF)

SKIP_SIGNATURE = "import_guard:skip_signature"
BYPASS = "import_guard:bypass"

#: The doors where bytes arrive: a ``skip_signature`` caller is still
#: checked there, without the signature requirement.
DATA_DOORS = ("upload", "stage", "import")

_IMAGE = "/v2/images/{image_id}"
_REFUSING = [
    {"path": _IMAGE, "method": "PATCH"},
    {"path": _IMAGE + "/locations", "method": "POST"},
    {"path": "/v2/tasks", "method": "POST"},
]

_RULES = [
    policy.DocumentedRuleDefault(
        name=SKIP_SIGNATURE,
        check_str="!",
        description=(
            "Uploads and imports need no signature: the import guard "
            "still checks a declared digest (img_hash_algo and "
            "img_hash_value) and the values of any signature properties "
            "that are set. At the requests that only refuse (a PATCH of "
            "the verified properties or of /locations, the locations API, "
            "the tasks API, a glance-download's check before it "
            "downloads) the caller is let through. The target: door "
            "(upload, stage, import, patch, location, task, precheck), "
            "project_id and owner (the image's owner, or the caller's "
            "project where there is no image), image_id and the other "
            "keys of Glance's image target. The default exempts nobody. "
            "Replaces [import_guard] exempt_roles."),
        operations=[
            {"path": _IMAGE + "/file", "method": "PUT"},
            {"path": _IMAGE + "/import", "method": "POST"},
        ] + _REFUSING,
        scope_types=["project"]),
    policy.DocumentedRuleDefault(
        name=BYPASS,
        check_str="!",
        description=(
            "The import guard's filter lets the request through untouched "
            "at every door (uploads, stages, an import's check before its "
            "task, PATCH, locations, tasks): Glance answers as it would "
            "without the guard; the import plugin still checks an "
            "import's data. Meant for Nova's snapshots and Cinder's "
            "upload-to-image, which carry no signature: key it on their "
            "service token, e.g. \"service_roles:service\" (only "
            "keystonemiddleware sets service_roles, from a valid service "
            "token). The target is import_guard:skip_signature's. The "
            "default exempts nobody. Replaces [import_guard] "
            "exempt_service_roles."),
        operations=[
            {"path": _IMAGE + "/file", "method": "PUT"},
            {"path": _IMAGE + "/stage", "method": "PUT"},
            {"path": _IMAGE + "/import", "method": "POST"},
        ] + _REFUSING,
        scope_types=["project"]),
]

#: The deprecated option that works as a rule: (option, rule, credential
#: key of the check it stands for).
DEPRECATED = (("exempt_roles", SKIP_SIGNATURE, "role"),
              ("exempt_service_roles", BYPASS, "service_roles"))


def list_rules():
    """The ``oslo.policy.policies`` entry point: the guard's rules."""
    return list(_RULES)


def register(enforcer):
    """Registers the guard's rules on ``enforcer`` (once)."""
    for rule in _RULES:
        if rule.name not in enforcer.registered_rules:
            enforcer.register_default(rule)
    return enforcer


def get_enforcer():
    """The ``oslo.policy.enforcer`` entry point, for oslo.policy's tools
    only: Glance's (it parses glance's configuration files), with the
    guard's rules."""
    from glance.api import policy as glance_policy
    return register(glance_policy.get_enforcer())


class _Enforcer(policy.Enforcer):
    """An Enforcer over another ``conf`` than glance-api's (the doctor,
    the ``check`` command), with Glance's defaults and the guard's, and
    Glance's ``check``."""

    def __init__(self, conf):
        # NOTE: the defaults glance-api sets before it reads a policy
        # (glance/api/policy.py and glance/common/config.py in glance 28;
        # oslo.policy's own defaults since): oslo.policy 4.3, which
        # 2024.1 pins, would look for policy.json.
        from oslo_policy import opts as policy_opts
        policy_opts.set_defaults(conf, "policy.yaml", enforce_scope=True,
                                 enforce_new_defaults=True)
        super().__init__(conf, use_conf=True, overwrite=False)
        from glance import policies as glance_policies
        self.suppress_default_change_warnings = True
        self.suppress_deprecation_warnings = True
        self.register_defaults(glance_policies.list_rules())
        register(self)

    def check(self, context, action, target):
        return self.enforce(action, target, context)


_lock = threading.Lock()
_glance_enforcer = None


def enforcer(conf=None):
    """The Enforcer for ``conf``: in glance-api (``conf`` None or Glance's
    CONF) one per process, Glance's own class, which reads Glance's policy
    file and ``[oslo_policy]`` options and re-reads the file when it
    changes; for another ``conf``, a new one over it."""
    global _glance_enforcer
    if conf is not None and conf is not CONF:
        return _Enforcer(conf)
    with _lock:
        if _glance_enforcer is None:
            # NOTE: not glance.api.policy.get_enforcer(), which parses
            # CONF again (CONF([], project='glance')): it is for
            # oslo.policy's tools. Glance's controllers each make an
            # Enforcer() like this one (glance/api/policy.py, Enforcer:
            # CONF, use_conf=True, Glance's defaults registered).
            from glance.api import policy as glance_policy
            _glance_enforcer = register(glance_policy.Enforcer(
                suppress_deprecation_warnings=True))
        return _glance_enforcer


class Target(abc.Mapping):
    """The target of the guard's rules (see the module's doc). The image
    is read only when a rule asks for one of its keys."""

    _UNREAD = object()

    def __init__(self, context, door, image=None, image_id=None):
        self.context = context
        self.door = door
        self._image = self._UNREAD if image is None and image_id else image
        self.image_id = getattr(image, "image_id", None) or image_id

    def image(self):
        if self._image is self._UNREAD:
            self._image = _image_of(self.context, self.image_id)
        return self._image

    def __getitem__(self, key):
        if key == "door":
            return self.door
        image = self.image()
        if image is None:
            if key in ("project_id", "owner") and not self.image_id:
                return getattr(self.context, "project_id", None)
            if key in ("image_id", "id") and self.image_id:
                return self.image_id
            raise KeyError(key)
        # NOTE: the keys of Glance's own image policies, project_id being
        # the owner (glance/api/policy.py, ImageTarget).
        from glance.api import policy as glance_policy
        return glance_policy.ImageTarget(image)[key]

    def __iter__(self):
        yield "door"
        yield "project_id"
        yield "owner"
        if self.image_id:
            yield "image_id"

    def __len__(self):
        return sum(1 for _ in self)


def _image_of(context, image_id):
    """The image, or None where the caller may not see it (a rule on
    its keys then does not hold)."""
    # NOTE: read as glance/api/middleware/cache.py reads an image.
    import glance.db
    from glance.common import exception
    try:
        return glance.db.ImageRepo(context, glance.db.get_api()).get(
            image_id)
    except (exception.NotFound, exception.Forbidden):
        return None


def target(context, door, image=None, image_id=None):
    """The target of the rules for ``context`` at ``door``, on ``image``
    (a Glance image) or the image ``image_id`` (read when needed)."""
    return Target(context, door, image=image, image_id=image_id)


def allows(rule, context, target, using=None):
    """Whether ``rule`` holds for ``context`` on ``target`` with the
    Enforcer ``using`` (None: glance-api's); False when the policy cannot
    be evaluated (logged): the guard then holds the caller to
    everything."""
    try:
        return bool((using or enforcer()).check(context, rule, target))
    except Exception:
        LOG.exception("import_guard cannot evaluate the policy rule %s; "
                      "the caller is not exempt", rule)
        return False


_warned = set()


def deprecated_check(option, values):
    """The check string the deprecated ``option`` set to ``values`` works
    as (see ``DEPRECATED``)."""
    kind = dict((o, k) for o, _, k in DEPRECATED)[option]
    return " or ".join("%s:%s" % (kind, v) for v in values)


def warn_deprecated(group):
    """Logs once per process, for each deprecated exemption option that
    is set, the policy rule to write instead."""
    for option, rule, _ in DEPRECATED:
        values = list(group[option])
        if values and option not in _warned:
            _warned.add(option)
            LOG.warning(
                "[import_guard] %(option)s is deprecated: it exempts as the "
                "policy rule \"%(rule)s\": \"%(check)s\" would; set that in "
                "Glance's policy file and remove %(option)s",
                {"option": option, "rule": rule,
                 "check": deprecated_check(option, values)})


def _grounds(rule, option, held, context, target, conf, using):
    group = conf[opts.GROUP]
    warn_deprecated(group)
    found = sorted(set(held or []) & set(group[option]))
    if allows(rule, context, target, using):
        found.append(rule)
    return found


def bypass(context, target, conf=None, using=None):
    """What lets the caller through the filter untouched: the service
    token's roles that ``exempt_service_roles`` names, and ``BYPASS``
    when it holds. Empty: nothing."""
    return _grounds(BYPASS, "exempt_service_roles",
                    getattr(context, "service_roles", None), context,
                    target, conf or CONF, using)


def skip_signature(context, target, conf=None, using=None):
    """What exempts the caller from the signature requirement: the roles
    that ``exempt_roles`` names, and ``SKIP_SIGNATURE`` when it holds.
    Empty: nothing."""
    return _grounds(SKIP_SIGNATURE, "exempt_roles",
                    getattr(context, "roles", None), context, target,
                    conf or CONF, using)


#: The project and user of the importer the ``check`` command imagines.
IMPORTER_PROJECT = "0123456789abcdef0123456789abcdef"
IMPORTER_USER = "fedcba9876543210fedcba9876543210"


def importer_exemption(conf, roles):
    """What would exempt an importer with ``roles`` (in the project that
    owns the image) from the signature under ``conf``'s options and, if
    ``conf`` was read from a file, the policy file beside it."""
    from oslo_context import context as oslo_context
    importer = oslo_context.RequestContext(
        user_id=IMPORTER_USER, project_id=IMPORTER_PROJECT,
        roles=[r.strip().lower() for r in roles if r.strip()])
    where = {"door": "import", "project_id": IMPORTER_PROJECT,
             "owner": IMPORTER_PROJECT}
    if not conf.config_file:
        # The guard's defaults: no policy file, nobody exempt by policy.
        group = conf[opts.GROUP]
        return sorted(set(importer.roles) & set(group.exempt_roles))
    return skip_signature(importer, where, conf=conf, using=enforcer(conf))


def log_rule_used(log, door, image_id, context, plan, grounds, group):
    """Logs at INFO, naming the caller, when ``plan`` (an accepted one)
    skipped the signature this cloud requires because the rule
    ``SKIP_SIGNATURE`` holds for the caller, and sends the notification
    ``image.import_guard.exempted`` with the rule's name as its role:
    each use is seen. (``decision.log_exemption_used`` does the same
    when the deprecated ``exempt_roles`` exempted.)"""
    if plan["signature"] or not group.require_signature or \
            list(grounds) != [SKIP_SIGNATURE]:
        return
    from glance_import_guard import notify
    log.info("import_guard accepted %(door)s of image %(image)s without a "
             "signature: the policy rule %(rule)s exempts the caller "
             "(request %(request)s, user %(user)s, project %(project)s)",
             {"door": door, "image": image_id, "rule": SKIP_SIGNATURE,
              "request": getattr(context, "request_id", None),
              "user": getattr(context, "user_id", None),
              "project": getattr(context, "project_id", None)},
             context=context)
    notify.exempted(image_id, context, door, [SKIP_SIGNATURE])
