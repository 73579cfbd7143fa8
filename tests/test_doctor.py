"""glance-import-guard doctor, on real config trees: each door open, then
closed. The command itself runs as the installed console script for the
all-closed tree, a stock tree and bad usage; the rest call the doctor
package."""

import io
import json
import os
import subprocess
import sys

import pytest

from glance_import_guard import cli, doctor
from support import harness

CLI = os.path.join(os.path.dirname(sys.executable), "glance-import-guard")
FILTER = ("\n[filter:import_guard]\npaste.filter_factory = "
          "glance_import_guard.middleware:filter_factory\n")
CLOSED_API = {
    "DEFAULT": {"enabled_backends": "store1:file"},
    "glance_store": {"default_backend": "store1"},
    "paste_deploy": {"flavor": "keystone"},
    "key_manager": {"backend": "certificate_directory"},
    "oslo_concurrency": {"lock_path": "/var/lib/glance/lock"},
}


def stock_paste():
    return harness._stock_paste_file().read_text()


def guarded_paste(text=None):
    """The stock paste file with the filter after context in every
    keystone pipeline, as the README tells operators."""
    text = text or stock_paste()
    lines = [line.replace(" context ", " context import_guard ")
             if line.startswith("keystone") else line
             for line in text.splitlines()]
    return "\n".join(lines) + FILTER


def ini(sections):
    return "".join("[%s]\n%s\n" % (name, "".join(
        "%s = %s\n" % kv for kv in options.items()))
        for name, options in sections.items())


def write_tree(folder, api=None, plugins="[import_guard]", paste=None,
               policy=None, **sections):
    """A glance config folder: glance-api.conf from CLOSED_API updated
    with ``api`` (a section set to None is dropped) and ``sections``;
    glance-image-import.conf; the paste file (default: guarded) with
    [paste_deploy] config_file pointing at it; policy.yaml if given."""
    folder.mkdir(exist_ok=True)
    conf = {k: dict(v) for k, v in CLOSED_API.items()}
    for name, options in dict(api or {}, **sections).items():
        if options is None:
            conf.pop(name, None)
        else:
            conf.setdefault(name, {}).update(options)
    paste_path = folder / "glance-api-paste.ini"
    paste_path.write_text(guarded_paste() if paste is None else paste)
    conf.setdefault("paste_deploy", {}).setdefault("config_file",
                                                   str(paste_path))
    (folder / "glance-api.conf").write_text(ini(conf))
    if plugins is not None:
        (folder / "glance-image-import.conf").write_text(ini({
            "image_import_opts": {"image_import_plugins": plugins}}))
    if policy is not None:
        (folder / "policy.yaml").write_text(policy)
    return folder


def rows(folder, nova=None):
    deployment = doctor.Deployment(str(folder), nova and str(nova))
    found = doctor.check(deployment)
    return {r.door: r for r in found}


def status(folder, door, nova=None):
    return rows(folder, nova)[door].status


def run(*args):
    return subprocess.run([CLI, "doctor", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture
def tree(tmp_path):
    """Writes a fresh config folder per call."""
    made = []

    def make(**kw):
        made.append(tmp_path / ("etc%d" % len(made)))
        return write_tree(made[-1], **kw)
    return make


def test_all_closed_tree_exits_0(tree):
    folder = tree()
    out = run("--config-dir", folder)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 open, 0 warning(s)" in out.stdout
    report = json.loads(run("--config-dir", folder, "--format",
                            "json").stdout)
    assert {r["status"] for r in report} == {"closed"}, report
    assert {r["door"] for r in report} >= {
        "import plugin", "upload filter", "guard options", "import methods",
        "policy upload_image", "policy add_image_location",
        "policy set_image_location", "policy tasks_api_access",
        "policy copy_image", "show_multiple_locations",
        "show_image_direct_url", "http store", "lock path", "key manager",
        "workers",
        "exemptions"}


def test_stock_tree_is_open_and_exits_1(tmp_path):
    folder = tmp_path / "stock"
    folder.mkdir()
    (folder / "glance-api.conf").write_text("[DEFAULT]\n")
    out = run("--config-dir", folder, "--format", "json")
    assert out.returncode == 1, out.stderr
    report = {r["door"]: r for r in json.loads(out.stdout)}
    assert report["import plugin"]["status"] == "open"
    assert report["import plugin"]["fix"] == (
        "set [image_import_opts] image_import_plugins = [import_guard]")
    assert report["upload filter"]["status"] == "open"
    assert report["policy upload_image"]["status"] == "open"
    assert report["policy add_image_location"]["status"] == "open"
    assert report["policy tasks_api_access"]["status"] == "closed"
    assert report["http store"]["status"] == "warning"
    assert report["key manager"]["status"] == "warning"
    text = run("--config-dir", folder)
    assert text.returncode == 1
    assert "open     import plugin" in text.stdout


def test_usage_errors_exit_2(tmp_path, capsys):
    assert cli.main(["doctor", "--config-dir", str(tmp_path / "no")]) == 2
    assert "no config directory" in capsys.readouterr().err
    assert cli.main(["doctor", "--config-dir", str(tmp_path)]) == 2
    write_tree(tmp_path / "etc")
    assert cli.main(["doctor", "--config-dir", str(tmp_path / "etc"),
                     "--nova-config", str(tmp_path / "nova.conf")]) == 2


def test_warnings_do_not_fail(tree):
    folder = tree(api={"DEFAULT": {"show_image_direct_url": "true"}})
    out = io.StringIO()
    assert doctor.run(str(folder), out=out) == 0
    assert "warning  show_image_direct_url" in out.getvalue()


def test_plugin(tree):
    row = rows(tree(plugins="[image_conversion]"))["import plugin"]
    assert row.status == "open"
    assert row.fix == ("set [image_import_opts] image_import_plugins = "
                       "[import_guard, image_conversion]")
    assert status(tree(plugins=None), "import plugin") == "open"
    assert status(tree(plugins="import_guard"), "import plugin") == "open"
    assert status(tree(plugins="[image_conversion, import_guard]"),
                  "import plugin") == "warning"
    assert status(tree(plugins="[import_guard, image_conversion]"),
                  "import plugin") == "closed"


def test_filter_missing(tree):
    row = rows(tree(paste=stock_paste()))["upload filter"]
    assert row.status == "open"
    assert row.fix == (
        'add "import_guard" after "context" in [composite:api] keystone; '
        "add [filter:import_guard] with paste.filter_factory = "
        "glance_import_guard.middleware:filter_factory")
    # The filter defined but left out of the served pipeline only.
    paste = guarded_paste().replace(
        "keystone = cors http_proxy_to_wsgi versionnegotiation osprofiler "
        "authtoken context import_guard rootapp",
        "keystone = cors http_proxy_to_wsgi versionnegotiation osprofiler "
        "authtoken context rootapp")
    row = rows(tree(paste=paste))["upload filter"]
    assert row.status == "open"
    assert row.fix == ('add "import_guard" after "context" in '
                       "[composite:api] keystone")


def test_filter_before_context_guards_as_well(tree):
    """The filter guards Glance's router below it, whose resources see
    the request context wherever the filter stands."""
    paste = guarded_paste().replace("context import_guard",
                                    "import_guard context")
    assert rows(tree(paste=paste))["upload filter"].status == "closed"


def test_filter_named_without_its_section(tree):
    paste = guarded_paste().replace(FILTER, "")
    row = rows(tree(paste=paste))["upload filter"]
    assert row.status == "open"
    assert "no [filter:import_guard] section" in row.found


def test_filter_follows_the_served_flavor(tree):
    # Only keystone+caching lacks it: open when served, closed otherwise.
    paste = guarded_paste().replace(
        "context import_guard cache rootapp", "context cache rootapp")
    assert status(tree(paste=paste), "upload filter") == "closed"
    row = rows(tree(paste=paste, paste_deploy={
        "flavor": "keystone+caching"}))["upload filter"]
    assert row.status == "open"
    assert row.fix == ('add "import_guard" after "context" in '
                       "[composite:api] keystone+caching")
    row = rows(tree(paste_deploy={"flavor": "nosuch"}))["upload filter"]
    assert row.status == "open"
    assert "no [composite:glance-api-nosuch]" in row.found


def test_filter_in_a_pipeline_section(tree):
    """The older layout: the composite maps / to a [pipeline:...]."""
    paste = stock_paste() + (
        "\n[composite:glance-api-old]\n"
        "paste.composite_factory = glance.api:root_app_factory\n"
        "/: glance-api-old-pipeline\n/healthcheck: healthcheck\n"
        "\n[pipeline:glance-api-old-pipeline]\n"
        "pipeline = cors versionnegotiation authtoken context rootapp\n")
    row = rows(tree(paste=paste, paste_deploy={"flavor": "old"}))[
        "upload filter"]
    assert row.status == "open"
    assert row.fix.startswith('add "import_guard" after "context" in '
                              "[pipeline:glance-api-old-pipeline]")
    fixed = paste.replace("context rootapp", "context import_guard rootapp")
    assert status(tree(paste=fixed + FILTER, paste_deploy={
        "flavor": "old"}), "upload filter") == "closed"


def test_paste_file_missing(tree, tmp_path):
    folder = tree(paste_deploy={"config_file": str(tmp_path / "no.ini")})
    assert status(folder, "upload filter") == "open"


def test_multiple_locations(tree):
    api = {"DEFAULT": {"show_multiple_locations": "true"}}
    row = rows(tree(api=api, paste=stock_paste()))["show_multiple_locations"]
    assert row.status == "open"
    assert row.fix == "set [DEFAULT] show_multiple_locations = false"
    assert status(tree(api=api), "show_multiple_locations") == "warning"


def test_direct_url(tree):
    row = rows(tree(api={"DEFAULT": {"show_image_direct_url": "true"}}))[
        "show_image_direct_url"]
    assert row.status == "warning"
    assert row.fix == "set [DEFAULT] show_image_direct_url = false"


def test_http_store(tree):
    api = {"DEFAULT": {"enabled_backends": "store1:file, web:http"}}
    assert status(tree(api=api, paste=stock_paste()),
                  "http store") == "warning"
    assert status(tree(api=api), "http store") == "closed"
    # Without enabled_backends, [glance_store] stores (file, http by
    # default) decides.
    api = {"DEFAULT": {"enabled_backends": ""}, "glance_store": None}
    assert status(tree(api=api, paste=stock_paste()),
                  "http store") == "warning"


def test_import_methods(tree):
    row = rows(tree(plugins="[]"))["import methods"]
    assert row.status == "open"
    assert "glance-direct, web-download run no guard" in row.found
    only_copy = {"DEFAULT": {"enabled_import_methods": "[copy-image]"}}
    assert status(tree(plugins="[]", api=only_copy),
                  "import methods") == "closed"
    assert status(tree(), "import methods") == "closed"


@pytest.mark.parametrize("rule", ["upload_image", "tasks_api_access"])
def test_policy_open_to_members_needs_the_filter(tree, rule):
    policy = '"%s": "role:member"\n' % rule
    row = rows(tree(paste=stock_paste(), policy=policy))["policy " + rule]
    assert row.status == "open"
    assert "member: allowed" in row.found
    assert status(tree(policy=policy), "policy " + rule) == "closed"
    closed = '"%s": "rule:context_is_admin"\n' % rule
    assert status(tree(paste=stock_paste(), policy=closed),
                  "policy " + rule) == "closed"


def test_policy_locations(tree):
    http = {"DEFAULT": {"enabled_backends": "store1:file, web:http"}}
    row = rows(tree(api=http, paste=stock_paste()))[
        "policy add_image_location"]
    assert row.status == "open"  # Glance's default lets members add
    assert '"add_image_location": "rule:service_api"' in row.fix
    # Without the http store, Glance refuses members' location adds.
    assert status(tree(paste=stock_paste()),
                  "policy add_image_location") == "closed"
    multiple = {"DEFAULT": {"show_multiple_locations": "true"}}
    assert status(tree(api=multiple, paste=stock_paste()),
                  "policy set_image_location") == "open"
    assert status(tree(api=multiple), "policy set_image_location") == \
        "closed"


def test_policy_copy_image_is_a_warning(tree):
    folder = tree(policy='"copy_image": "role:member"\n')
    assert status(folder, "policy copy_image") == "warning"


def test_policy_file_unreadable(tree):
    folder = tree(policy='"upload_image": [unclosed\n')
    assert status(folder, "policy upload_image") == "open"


def test_key_manager(tree):
    assert status(tree(key_manager=None), "key manager") == "warning"
    assert status(tree(key_manager={"backend": "nosuch"}),
                  "key manager") == "warning"
    assert status(tree(key_manager={"backend": "barbican"}),
                  "key manager") == "closed"


@pytest.mark.parametrize("options", [
    {"allowed_key_types": "NO-SUCH-TYPE"},
    {"require_signature": "false"},
    {"required_signature_properties": "img_signature"},
    {"min_rsa_key_size": "many"},
])
def test_guard_options(tree, options):
    row = rows(tree(import_guard=options))["guard options"]
    assert row.status == "open", row


def test_workers(tree):
    api = {"DEFAULT": {"workers": "4"}}
    assert status(tree(api=api), "workers") == "warning"
    api["DEFAULT"]["worker_self_reference_url"] = "http://10.0.0.1:9292"
    assert status(tree(api=api), "workers") == "closed"


def test_exemptions(tree):
    row = rows(tree(import_guard={"exempt_service_roles": "service"}))[
        "exemptions"]
    assert row.status == "warning"
    assert "Nova snapshots" in row.found
    assert status(tree(import_guard={"exempt_roles": "admin"}),
                  "exemptions") == "warning"


def test_conf_d_is_read(tree):
    folder = tree()
    (folder / "glance-api.conf.d").mkdir()
    (folder / "glance-api.conf.d" / "locations.conf").write_text(
        "[DEFAULT]\nshow_image_direct_url = true\n")
    assert status(folder, "show_image_direct_url") == "warning"


def test_nova(tree, tmp_path):
    nova = tmp_path / "nova.conf"
    nova.write_text(ini({"glance": {"verify_glance_signatures": "true"},
                         "service_user": {
                             "send_service_user_token": "true"}}))
    found = rows(tree(import_guard={"exempt_service_roles": "service"}),
                 nova)
    assert found["nova signatures"].status == "closed"
    assert found["nova certificates"].status == "closed"
    assert found["nova service token"].status == "closed"

    nova.write_text(ini({"glance": {
        "enable_certificate_validation": "true"}}))
    found = rows(tree(import_guard={"exempt_service_roles": "service"}),
                 nova)
    assert found["nova signatures"].status == "warning"
    assert found["nova certificates"].status == "warning"
    assert found["nova service token"].status == "warning"
    # Without the exemption, no service token is needed.
    assert status(tree(import_guard={"exempt_service_roles": ""}),
                  "nova service token", nova) == "closed"


def test_the_harness_headers_flavor(tree):
    """The flavor the end-to-end tests serve (tests/support/harness.py):
    its own composite, a pipeline keyed "headers" in [composite:api]."""
    paste = harness.paste_with_headers_flavor()
    row = rows(tree(paste=paste, paste_deploy={"flavor": "headers"}))[
        "upload filter"]
    assert row.status == "open"
    assert row.fix.startswith('add "import_guard" after "context" in '
                              "[composite:api] headers")
    headers = next(line for line in paste.splitlines()
                   if line.startswith("headers = "))
    paste = paste.replace(headers, headers.replace(
        " context ", " context import_guard ")) + FILTER
    assert status(tree(paste=paste, paste_deploy={"flavor": "headers"}),
                  "upload filter") == "closed"


def test_lock_path_is_checked(tree):
    """Adding a location runs under a lock that needs lock_path."""
    assert status(tree(), "lock path") == "closed"
    row = rows(tree(oslo_concurrency=None))["lock path"]
    assert row.status == "warning"
    assert row.fix == ("set [oslo_concurrency] lock_path = "
                       "/var/lib/glance/lock")
