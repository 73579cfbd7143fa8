"""The exemptions as oslo.policy rules (glance_import_guard.policies): the
rules and their defaults, their evaluation by an oslo.policy Enforcer
over a real configuration and policy file, the target, the deprecated
options OR'ed in, the tools' entry points, the ``check`` command and the
doctor's rows. The same rules in a real glance-api: test_e2e_policies.py.
"""

import logging
import os
import subprocess
import sys
import textwrap

import pytest
from oslo_config import cfg
from oslo_context import context as oslo_context
from oslo_policy import policy as oslo_policy

from conftest import PROJECT, make_context
from glance_import_guard import opts, policies
from glance_import_guard.doctor import policy as doctor_policy

OTHER = "9d3c43a6a1c34cd2b1d1b2a47a8e0b55"
BIN = os.path.dirname(sys.executable)
ONE_PROJECT = ('"import_guard:skip_signature": "role:image_builder and '
               'project_id:%%(project_id)s and project_id:%s"\n'
               '"import_guard:bypass": "service_roles:service"\n' % PROJECT)


def load(folder, policy=None, **import_guard):
    """glance-api.conf (with ``[import_guard]``) and policy.yaml in
    ``folder``, read as the doctor and the ``check`` command read them."""
    folder.mkdir(exist_ok=True)
    text = "[import_guard]\n" + "".join(
        "%s = %s\n" % kv for kv in import_guard.items())
    (folder / "glance-api.conf").write_text(text)
    if policy is not None:
        (folder / "policy.yaml").write_text(policy)
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf([], project="glance",
         default_config_files=[str(folder / "glance-api.conf")])
    return conf


def caller(roles=("member", "reader"), project=PROJECT, service_roles=()):
    return oslo_context.RequestContext(
        user_id="u", project_id=project, roles=list(roles),
        service_roles=list(service_roles))


def on(project=PROJECT, door="upload"):
    return {"door": door, "project_id": project, "owner": project}


def skip(conf, who, target):
    return policies.skip_signature(who, target, conf=conf,
                                   using=policies.enforcer(conf))


def bypass(conf, who, target):
    return policies.bypass(who, target, conf=conf,
                           using=policies.enforcer(conf))


def test_the_rules_are_documented_and_exempt_nobody_by_default():
    rules = {r.name: r for r in policies.list_rules()}
    assert set(rules) == {"import_guard:skip_signature",
                          "import_guard:bypass"}
    for rule in rules.values():
        assert isinstance(rule, oslo_policy.DocumentedRuleDefault)
        assert rule.check_str == "!"
        assert rule.scope_types == ["project"]
        assert rule.description
        assert {"path": "/v2/images/{image_id}/file",
                "method": "PUT"} in rule.operations


@pytest.mark.parametrize("who", [
    caller(), caller(roles=("admin", "member")),
    caller(roles=("image_builder",)),
    caller(service_roles=("service", "admin"))])
def test_without_a_policy_file_nobody_is_exempt(tmp_path, who):
    conf = load(tmp_path)
    assert skip(conf, who, on()) == []
    assert bypass(conf, who, on()) == []


def test_a_rule_can_exempt_one_role_in_one_project_on_its_own_images(
        tmp_path):
    conf = load(tmp_path, ONE_PROJECT)
    rule = "import_guard:skip_signature"
    builder = caller(roles=("image_builder", "member"))
    assert skip(conf, builder, on()) == [rule]
    # Another project's builder, on its own images.
    assert skip(conf, caller(roles=("image_builder",), project=OTHER),
                on(OTHER)) == []
    # The project's builder on another project's image.
    assert skip(conf, builder, on(OTHER)) == []
    # Another role.
    assert skip(conf, caller(roles=("admin",)), on()) == []
    # The skip_signature rule does not bypass.
    assert bypass(conf, builder, on()) == []


def test_bypass_is_keyed_on_the_service_token_not_the_users_roles(
        tmp_path):
    """oslo.policy's generic check looks the value up in the list of
    service_roles; the user's own ``service`` role is not that."""
    conf = load(tmp_path, ONE_PROJECT)
    assert bypass(conf, caller(service_roles=("admin", "service")),
                  on()) == ["import_guard:bypass"]
    assert bypass(conf, caller(roles=("service",)), on()) == []
    assert bypass(conf, caller(service_roles=("Service",)), on()) == []


def test_a_system_scoped_token_is_never_exempt(tmp_path):
    conf = load(tmp_path, '"import_guard:skip_signature": "role:admin"\n')
    assert skip(conf, caller(roles=("admin",)), on()) == [
        "import_guard:skip_signature"]
    system = oslo_context.RequestContext(user_id="u", roles=["admin"],
                                         system_scope="all")
    assert skip(conf, system, on()) == []


def test_the_deprecated_options_still_exempt_ored_with_the_rules(tmp_path):
    conf = load(tmp_path, ONE_PROJECT, exempt_roles="legacy, image_builder",
                exempt_service_roles="nova")
    assert skip(conf, caller(roles=("legacy",), project=OTHER),
                on(OTHER)) == ["legacy"]
    assert skip(conf, caller(roles=("image_builder",)), on()) == [
        "image_builder", "import_guard:skip_signature"]
    assert skip(conf, caller(), on()) == []
    assert bypass(conf, caller(service_roles=("nova",)), on()) == ["nova"]
    assert bypass(conf, caller(roles=("nova",)), on()) == []


def test_the_deprecated_options_are_deprecated_for_the_rules():
    found = {o.name: o for o in opts.import_guard_opts}
    for name, rule in (("exempt_roles", "import_guard:skip_signature"),
                       ("exempt_service_roles", "import_guard:bypass")):
        assert found[name].deprecated_for_removal
        assert rule in found[name].deprecated_reason


def test_a_set_deprecated_option_is_warned_about_once_with_its_rule(
        tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(policies, "_warned", set())
    conf = load(tmp_path, exempt_roles="a, b")
    with caplog.at_level(logging.WARNING, logger="glance_import_guard"):
        for _ in range(3):
            skip(conf, caller(), on())
            bypass(conf, caller(), on())
    [line] = [r.getMessage() for r in caplog.records
              if "deprecated" in r.getMessage()]
    assert "exempt_roles" in line
    assert '"import_guard:skip_signature": "role:a or role:b"' in line


def test_an_unset_deprecated_option_is_not_warned_about(
        tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(policies, "_warned", set())
    with caplog.at_level(logging.WARNING, logger="glance_import_guard"):
        skip(load(tmp_path), caller(), on())
    assert not [r for r in caplog.records
                if "deprecated" in r.getMessage()]


def test_a_policy_that_cannot_be_evaluated_exempts_nobody(tmp_path, caplog):
    conf = load(tmp_path, "{not yaml: [")
    with caplog.at_level(logging.ERROR, logger="glance_import_guard"):
        assert skip(conf, caller(roles=("a",)), on()) == []
    assert any("cannot evaluate the policy rule" in r.getMessage()
               for r in caplog.records)


def test_the_target_reads_the_image_only_for_a_rule_that_asks(
        new_import, monkeypatch):
    case = new_import({})
    read = []
    real = policies._image_of
    monkeypatch.setattr(policies, "_image_of",
                        lambda *a: read.append(a) or real(*a))
    target = policies.target(case.context, "patch", image_id=case.image_id)
    assert target["door"] == "patch"
    assert read == []
    assert target["project_id"] == PROJECT
    assert target["owner"] == PROJECT
    assert target["id"] == case.image_id
    assert target["visibility"] == case.image.visibility
    assert len(read) == 1


def test_the_targets_project_is_the_images_owner_not_the_callers(
        new_import):
    from glance import context as glance_context
    case = new_import({})
    admin = glance_context.RequestContext(
        project_id=OTHER, user_id="u", roles=["admin"], is_admin=True)
    target = policies.target(admin, "upload", image_id=case.image_id)
    assert target["project_id"] == PROJECT
    assert target["owner"] == PROJECT


def test_without_an_image_the_target_is_the_callers_project():
    target = policies.target(make_context(), "task")
    assert target["project_id"] == PROJECT
    assert target["owner"] == PROJECT
    with pytest.raises(KeyError):
        target["visibility"]


def test_an_image_the_caller_cannot_see_has_no_project(glance_db):
    target = policies.target(make_context(), "patch",
                             image_id="fa11ed00-0000-4000-8000-000000000000")
    with pytest.raises(KeyError):
        target["project_id"]
    assert target["image_id"] == "fa11ed00-0000-4000-8000-000000000000"


def test_the_glance_api_enforcer_is_glances_own_with_the_guards_rules(
        glance_db, conf, tmp_path, monkeypatch):
    """In glance-api: glance.api.policy.Enforcer over Glance's CONF and
    its policy file, the guard's rules registered beside Glance's, one
    per process."""
    from glance.api import policy as glance_policy
    from oslo_policy import opts as policy_opts
    policy_opts.set_defaults(cfg.CONF)
    path = tmp_path / "policy.yaml"
    path.write_text(ONE_PROJECT)
    conf(group="oslo_policy", policy_file=str(path))
    monkeypatch.setattr(policies, "_glance_enforcer", None)
    enforcer = policies.enforcer()
    assert type(enforcer) is glance_policy.Enforcer
    assert policies.enforcer() is enforcer
    assert {"upload_image", "import_guard:skip_signature",
            "import_guard:bypass"} <= set(enforcer.registered_rules)
    builder = make_context(roles=("image_builder", "member"))
    assert policies.skip_signature(builder, on()) == [
        "import_guard:skip_signature"]
    assert policies.skip_signature(make_context(), on()) == []


def test_the_sample_generator_shows_the_rules():
    out = subprocess.run(
        [os.path.join(BIN, "oslopolicy-sample-generator"), "--namespace",
         "glance_import_guard"], capture_output=True, text=True, check=True)
    assert '#"import_guard:skip_signature": "!"' in out.stdout
    assert '#"import_guard:bypass": "!"' in out.stdout


def test_the_policy_generator_shows_the_effective_rules(tmp_path):
    """oslopolicy-policy-generator, with the guard's enforcer entry point:
    Glance's rules and the guard's, from the policy file Glance reads
    (here ~/.glance/policy.yaml) or their defaults."""
    (tmp_path / ".glance").mkdir()
    (tmp_path / ".glance" / "policy.yaml").write_text(ONE_PROJECT)
    out = subprocess.run(
        [os.path.join(BIN, "oslopolicy-policy-generator"), "--namespace",
         "glance_import_guard"], capture_output=True, text=True, check=True,
        cwd=tmp_path, env=dict(os.environ, HOME=str(tmp_path)))
    assert ('"import_guard:skip_signature": "role:image_builder and '
            'project_id:%%(project_id)s and project_id:%s"' % PROJECT
            ) in out.stdout
    assert '"import_guard:bypass": "service_roles:service"' in out.stdout
    assert '"upload_image": ' in out.stdout


def run_check(*args):
    return subprocess.run(
        [os.path.join(BIN, "glance-import-guard"), "check", *args],
        capture_output=True, text=True)


def test_the_check_command_weighs_roles_with_the_policy_file(tmp_path):
    image = tmp_path / "image"
    image.write_bytes(b"data")
    folder = tmp_path / "etc"
    load(folder, '"import_guard:skip_signature": "role:image_builder"\n')
    config = str(folder / "glance-api.conf")
    assert run_check(str(image), "--config-file", config,
                     "--roles", "member,image_builder").returncode == 0
    assert run_check(str(image), "--config-file", config,
                     "--roles", "member").returncode == 1
    # Without a configuration, the guard's defaults: nobody is exempt.
    assert run_check(str(image), "--roles",
                     "image_builder").returncode == 1


class Deployment:
    """What doctor.policy reads of a doctor Deployment."""

    def __init__(self, conf):
        self.conf = conf


def doctor_rows(conf):
    return {door: (status, found, fix) for door, status, found, fix
            in doctor_policy.rows(Deployment(conf))}


def test_the_doctor_shows_the_default_rules_as_closed(tmp_path):
    found = doctor_rows(load(tmp_path))
    status, text, fix = found["exemption import_guard:skip_signature"]
    assert status == "closed"
    assert '"import_guard:skip_signature": "!" (default)' in text
    assert fix is None
    assert found["exemption import_guard:bypass"][0] == "closed"


def test_the_doctor_shows_a_rule_from_the_policy_file(tmp_path):
    found = doctor_rows(load(tmp_path, ONE_PROJECT))
    status, text, _ = found["exemption import_guard:skip_signature"]
    assert status == "warning"
    assert str(tmp_path / "policy.yaml") in text
    assert "role:image_builder and project_id:%(project_id)s" in text
    assert found["exemption import_guard:bypass"][0] == "warning"


def test_the_doctor_opens_a_rule_every_member_passes(tmp_path):
    found = doctor_rows(load(tmp_path, textwrap.dedent("""\
        "import_guard:skip_signature": "role:member"
        """)))
    assert found["exemption import_guard:skip_signature"][0] == "open"
    assert found["exemption import_guard:bypass"][0] == "closed"


def test_the_doctor_warns_about_a_deprecated_option_and_gives_the_rule(
        tmp_path):
    found = doctor_rows(load(
        tmp_path, '"import_guard:skip_signature": "role:x"\n',
        exempt_roles="admin"))
    status, text, fix = found["exemption import_guard:skip_signature"]
    assert status == "warning"
    assert "exempt_roles = admin, deprecated" in text
    assert fix == ('replace exempt_roles by "import_guard:skip_signature": '
                   '"(role:x) or role:admin" in the policy file')
    status, text, fix = doctor_rows(load(
        tmp_path / "b", exempt_service_roles="service"))[
            "exemption import_guard:bypass"]
    assert status == "warning"
    assert fix == ('replace exempt_service_roles by "import_guard:bypass": '
                   '"service_roles:service" in the policy file')


def test_the_doctor_cannot_read_a_broken_policy_file(tmp_path):
    found = doctor_rows(load(tmp_path, "{not yaml: ["))
    assert found["exemption import_guard:skip_signature"][0] == "open"
