"""The doctor's rows of the exemptions: each of the guard's policy rules
(``glance_import_guard.policies``) as glance-api evaluates it, from
Glance's policy file or its default, and the deprecated ``[import_guard]``
options that still exempt beside it.

A rule's row is ``closed`` when it exempts nobody, ``warning`` when it
exempts someone (or a deprecated option does), ``open`` when every
project member is exempt or the policy cannot be read. Rows are
``(door, status, found, fix)``, as ``rows.Row`` takes them.
"""

import warnings

from glance_import_guard import opts, policies

CLOSED, OPEN, WARNING = "closed", "open", "warning"  # rows.py's statuses

WHAT = {policies.SKIP_SIGNATURE: "uploads and imports need no signature",
        policies.BYPASS: "requests pass the guard untouched"}


def effective(conf):
    """[(rule, check string, where it comes from: the policy file or
    None for the default, whether a plain project member passes)] for
    ``conf``, and the policy file read (None: none)."""
    from oslo_context import context
    enforcer = policies.enforcer(conf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enforcer.load_rules()
    member = context.RequestContext(
        user_id=policies.IMPORTER_USER, project_id=policies.IMPORTER_PROJECT,
        roles=["member", "reader"])
    target = {"door": "upload", "project_id": policies.IMPORTER_PROJECT,
              "owner": policies.IMPORTER_PROJECT}
    found = []
    for rule in policies.list_rules():
        mine = enforcer.file_rules.get(rule.name)
        check = mine.check_str if mine else rule.check_str
        found.append((rule.name, check,
                      enforcer.policy_path if mine else None,
                      policies.allows(rule.name, member, target, enforcer)))
    return found, enforcer.policy_path


def rows(d):
    """The rows of the guard's exemption rules for the ``Deployment``
    ``d``."""
    group = d.conf[opts.GROUP]
    try:
        found, _ = effective(d.conf)
    except Exception as e:  # a malformed policy file, in any way
        return [("exemption " + rule.name, OPEN,
                 "cannot evaluate the policy: %s: %s" % (
                     type(e).__name__, e), "correct the policy file")
                for rule in policies.list_rules()]
    deprecated = {rule: option for option, rule, _ in policies.DEPRECATED}
    out = []
    for rule, check, where, member in found:
        text = '"%s": "%s" (%s)' % (rule, check, where or "default")
        option = deprecated[rule]
        values = list(group[option])
        exempts = check.strip() != "!"
        fix = None
        if member:
            status = OPEN
            text += ": every project member's %s" % WHAT[rule]
            fix = 'narrow "%s" in the policy file, e.g. "role:image_builder'\
                ' and project_id:%%(project_id)s"' % rule
        elif exempts:
            status = WARNING
            text += ": for whom it holds, %s" % WHAT[rule]
        else:
            status = CLOSED
            text += ": nobody"
        if values:
            text += "; [import_guard] %s = %s, deprecated, exempts too" % (
                option, ", ".join(values))
            merged = policies.deprecated_check(option, values)
            if exempts:
                merged = "(%s) or %s" % (check, merged)
            fix = (fix + "; " if fix else "") + (
                'replace %s by "%s": "%s" in the policy file' % (
                    option, rule, merged))
            if status == CLOSED:
                status = WARNING
        out.append(("exemption " + rule, status, text, fix))
    return out
