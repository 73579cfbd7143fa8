"""glance-import-guard doctor, on real config trees: each door open, then
closed. The command itself runs as the installed console script for the
all-closed tree, a stock tree and bad usage; the rest call the doctor
package."""

import io
import json
import os
import pathlib
import pwd
import subprocess
import sys

import pytest

from glance_import_guard import doctor
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
               policy=None, paste_config_file=True, **sections):
    """A glance config folder: glance-api.conf from CLOSED_API updated
    with ``api`` (a section set to None is dropped) and ``sections``;
    glance-image-import.conf; the paste file (default: guarded) with
    [paste_deploy] config_file pointing at it (unless not
    ``paste_config_file``); policy.yaml if given; the certificate
    directory (``certificates``, 0755) and the staging folder
    (``staging``, 0750) glance-api would make."""
    folder.mkdir(exist_ok=True)
    conf = {k: dict(v) for k, v in CLOSED_API.items()}
    for name, options in dict(api or {}, **sections).items():
        if options is None:
            conf.pop(name, None)
        else:
            conf.setdefault(name, {}).update(options)
    for section, option, name, mode in (
            ("certificate_directory", "path", "certificates", 0o755),
            ("os_glance_staging_store", "filesystem_store_datadir",
             "staging", 0o750)):
        if sections.get(section, {}) is not None:
            made = folder / name
            made.mkdir(exist_ok=True)
            made.chmod(mode)
            conf.setdefault(section, {}).setdefault(option, str(made))
    paste_path = folder / "glance-api-paste.ini"
    paste_path.write_text(guarded_paste() if paste is None else paste)
    if paste_config_file:
        conf.setdefault("paste_deploy", {}).setdefault("config_file",
                                                       str(paste_path))
    (folder / "glance-api.conf").write_text(ini(conf))
    if plugins is not None:
        (folder / "glance-image-import.conf").write_text(ini({
            "image_import_opts": {"image_import_plugins": plugins}}))
    if policy is not None:
        (folder / "policy.yaml").write_text(policy)
    return folder


def config(folder):
    """The --config-file arguments of glance-api's files in ``folder``."""
    files = [folder / "glance-image-import.conf", folder / "glance-api.conf"]
    return [a for f in files if f.exists() for a in ("--config-file", str(f))]


def rows(folder, nova=None, more=(), glance_user="glance"):
    deployment = doctor.Deployment(config(folder) + list(more),
                                   nova and str(nova), glance_user)
    found = doctor.check(deployment)
    return {r.door: r for r in found}


def status(folder, door, nova=None):
    return rows(folder, nova)[door].status


def run(*args, env=None):
    return subprocess.run([CLI, "doctor", *map(str, args)],
                          capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})))


@pytest.fixture
def tree(tmp_path):
    """Writes a fresh config folder per call."""
    made = []

    def make(**kw):
        made.append(tmp_path / ("etc%d" % len(made)))
        return write_tree(made[-1], **kw)
    return make


def test_all_closed_tree_exits_0(tree):
    """Found as glance-api finds it: $OS_GLANCE_CONFIG_DIR, no flags."""
    folder = tree()
    out = run(env={"OS_GLANCE_CONFIG_DIR": str(folder)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 open, 0 warning(s)" in out.stdout
    report = json.loads(run("--format", "json", env={
        "OS_GLANCE_CONFIG_DIR": str(folder)}).stdout)
    assert {r["status"] for r in report} == {"closed"}, report
    assert {r["door"] for r in report} >= {
        "import plugin", "upload filter", "guard options", "import methods",
        "policy upload_image", "policy add_image_location",
        "policy set_image_location", "policy tasks_api_access",
        "policy copy_image", "show_multiple_locations",
        "show_image_direct_url", "http store", "lock path", "key manager",
        "workers",
        "exemptions", "certificate directory", "staging key"}


def test_stock_tree_is_open_and_exits_1(tmp_path):
    folder = tmp_path / "stock"
    folder.mkdir()
    (folder / "glance-api.conf").write_text("[DEFAULT]\n")
    out = run(*config(folder), "--format", "json")
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
    text = run(*config(folder))
    assert text.returncode == 1
    assert "open     import plugin" in text.stdout


def test_a_missing_config_file_exits_2(tmp_path):
    out = run("--config-file", tmp_path / "glance-api.conf")
    assert out.returncode == 2, out.stdout + out.stderr
    assert str(tmp_path / "glance-api.conf") in out.stderr


def test_no_glance_api_conf_where_glance_api_looks_exits_2(tmp_path):
    out = run(env={"OS_GLANCE_CONFIG_DIR": str(tmp_path)})
    assert out.returncode == 2, out.stdout + out.stderr
    assert str(tmp_path / "glance-api.conf") in out.stderr


def test_a_missing_config_dir_exits_2(tree, tmp_path):
    out = run(*config(tree()), "--config-dir", tmp_path / "no")
    assert out.returncode == 2, out.stdout + out.stderr
    assert str(tmp_path / "no") in out.stderr


def test_a_missing_nova_config_exits_2(tree, tmp_path):
    out = run(*config(tree()), "--nova-config", tmp_path / "nova.conf")
    assert out.returncode == 2, out.stdout + out.stderr
    assert "no nova config file" in out.stderr


def test_an_unknown_argument_exits_2(tree):
    assert run(*config(tree()), "--no-such-flag").returncode == 2


def test_format_text_is_deprecated_for_table(tree):
    folder = tree()
    old, new = run(*config(folder), "--format", "text"), run(*config(folder))
    assert old.returncode == new.returncode == 0, old.stderr
    assert old.stdout == new.stdout
    assert "--format text is deprecated; use --format table" in old.stderr
    assert "deprecated" not in new.stderr


def test_warnings_do_not_fail(tree):
    folder = tree(api={"DEFAULT": {"show_image_direct_url": "true"}})
    out = io.StringIO()
    assert doctor.run(config(folder), out=out) == 0
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


def test_a_config_dir_is_read_after_the_files_sorted(tree):
    """As oslo.config: every *.conf of --config-dir, in name order, after
    the --config-files, the last one read winning."""
    folder = tree()
    conf_d = folder / "glance-api.conf.d"
    conf_d.mkdir()
    (conf_d / "10-on.conf").write_text(
        "[DEFAULT]\nshow_image_direct_url = true\n")
    more = ["--config-dir", str(conf_d)]
    assert rows(folder, more=more)["show_image_direct_url"].status == \
        "warning"
    (conf_d / "20-off.conf").write_text(
        "[DEFAULT]\nshow_image_direct_url = false\n")
    assert rows(folder, more=more)["show_image_direct_url"].status == \
        "closed"
    (conf_d / "20-off.conf").rename(conf_d / "05-off.conf")
    assert rows(folder, more=more)["show_image_direct_url"].status == \
        "warning"


def test_later_config_files_win(tree):
    folder = tree(api={"DEFAULT": {"show_image_direct_url": "false"}})
    on = folder / "on.conf"
    on.write_text("[DEFAULT]\nshow_image_direct_url = true\n")
    assert rows(folder, more=["--config-file", str(on)])[
        "show_image_direct_url"].status == "warning"
    deployment = doctor.Deployment(["--config-file", str(on)] + config(
        folder))
    assert {r.door: r.status for r in doctor.check(deployment)}[
        "show_image_direct_url"] == "closed"


def test_an_old_style_config_dir_is_read_as_oslo_does_with_a_warning(
        tree):
    """--config-dir once named the folder of glance-api.conf: it now
    reads every *.conf there, and says so."""
    folder = tree()
    (folder / "zz-direct-url.conf").write_text(
        "[DEFAULT]\nshow_image_direct_url = true\n")
    out = run("--config-dir", folder, "--format", "json",
              env={"OS_GLANCE_CONFIG_DIR": str(folder)})
    assert out.returncode == 0, out.stderr
    report = {r["door"]: r["status"] for r in json.loads(out.stdout)}
    assert report["show_image_direct_url"] == "warning"
    assert "--config-dir %s reads every *.conf in it" % folder in out.stderr
    assert "warning" not in run(*config(folder)).stderr


def test_the_paste_file_is_found_beside_the_last_config_file(tree):
    """Without [paste_deploy] config_file, Glance looks for the last
    config file's name with -paste.ini for .conf, beside it."""
    folder = tree(paste_config_file=False)
    deployment = doctor.Deployment(config(folder))
    assert deployment.paste_path == str(folder / "glance-api-paste.ini")
    assert deployment.paste_source == "found by glance-api"
    other = pathlib.Path(folder / "other")
    other.mkdir()
    (other / "api.conf").write_text((folder / "glance-api.conf").read_text())
    (other / "api-paste.ini").write_text(stock_paste())
    deployment = doctor.Deployment(["--config-file", str(other / "api.conf")])
    assert deployment.paste_path == str(other / "api-paste.ini")


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
    # The bypass rule of the policy file relies on the token as well.
    assert status(tree(import_guard={"exempt_service_roles": ""},
                       policy='"import_guard:bypass": '
                              '"service_roles:service"\n'),
                  "nova service token", nova) == "warning"


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


# Who can change the certificate directory and the staging key
# (doctor/permissions.py). The tests run as root, who can chown.
OTHER_UID = 4242


def has_user(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def staging_key(folder, mode=0o600, records_mode=0o700):
    """The key glance-api makes at the first stage (staging.py)."""
    records = folder / "staging" / ".import-guard"
    records.mkdir(mode=records_mode)
    records.chmod(records_mode)
    key = records / "key"
    key.write_bytes(os.urandom(32))
    key.chmod(mode)
    return key


def certificate(folder, mode=0o644):
    path = folder / "certificates" / "signer.pem"
    path.write_text("not read by the doctor\n")
    path.chmod(mode)
    return path


def test_a_closed_certificate_directory_and_staging_key(tree):
    folder = tree()
    certificate(folder)
    staging_key(folder)
    found = rows(folder)
    assert found["certificate directory"].status == "closed", found[
        "certificate directory"]
    assert found["staging key"].status == "closed", found["staging key"]


@pytest.mark.parametrize("mode,who", [(0o775, "group"), (0o757, "others"),
                                      (0o777, "group and others")])
def test_a_certificate_directory_writable_by_group_or_others_is_open(
        tree, mode, who):
    folder = tree()
    (folder / "certificates").chmod(mode)
    row = rows(folder)["certificate directory"]
    assert row.status == "open"
    assert "writable by %s" % who in row.found
    assert row.fix == "chmod go-w %s" % (folder / "certificates")


def test_a_certificate_writable_by_others_is_open(tree):
    folder = tree()
    path = certificate(folder, 0o646)
    row = rows(folder)["certificate directory"]
    assert row.status == "open"
    assert row.fix == "chmod go-w %s" % path


def test_a_certificate_directory_owned_by_another_user_is_open(tree):
    folder = tree()
    os.chown(folder / "certificates", OTHER_UID, -1)
    row = rows(folder)["certificate directory"]
    assert row.status == "open"
    assert "owned by uid %d" % OTHER_UID in row.found
    assert row.fix == "chown root %s" % (folder / "certificates")


def test_a_certificate_owned_by_another_user_is_open(tree):
    folder = tree()
    path = certificate(folder)
    os.chown(path, OTHER_UID, -1)
    row = rows(folder)["certificate directory"]
    assert row.status == "open"
    assert row.fix == "chown root %s" % path


def test_glance_apis_user_may_own_the_certificate_directory(tree):
    folder = tree()
    os.chown(folder / "certificates", OTHER_UID, -1)
    os.chown(certificate(folder), OTHER_UID, -1)
    row = rows(folder, glance_user=str(OTHER_UID))["certificate directory"]
    assert row.status == "closed", row


def test_glance_apis_user_by_name_may_own_the_certificate_directory(tree):
    folder = tree()
    nobody = pwd.getpwnam("nobody").pw_uid
    os.chown(folder / "certificates", nobody, -1)
    assert rows(folder)["certificate directory"].status == "open"
    row = rows(folder, glance_user="nobody")["certificate directory"]
    assert row.status == "closed", row


def test_a_folder_above_writable_by_others_is_open(tree):
    folder = tree()
    folder.chmod(0o777)
    row = rows(folder)["certificate directory"]
    assert row.status == "open"
    assert row.fix == "chmod go-w %s" % folder


def test_a_sticky_root_folder_above_is_not_open(tree):
    """As /tmp: others cannot rename what is not theirs."""
    folder = tree()
    folder.chmod(0o1777)
    assert rows(folder)["certificate directory"].status == "closed"
    (folder / "certificates").chmod(0o1777)  # but the directory itself
    assert rows(folder)["certificate directory"].status == "open"


def test_no_certificate_directory_backend_no_row_to_open(tree):
    folder = tree(key_manager={"backend": "barbican"})
    (folder / "certificates").chmod(0o777)
    assert rows(folder)["certificate directory"].status == "closed"


def test_a_certificate_directory_that_is_not_here_is_a_warning(tree):
    folder = tree(certificate_directory={"path": "/nonexistent/certs"})
    assert rows(folder)["certificate directory"].status == "warning"


def test_a_staging_key_readable_by_others_is_open(tree):
    folder = tree()
    key = staging_key(folder, mode=0o604)
    row = rows(folder)["staging key"]
    assert row.status == "open"
    assert "readable by others" in row.found
    assert row.fix == "chmod o-r %s" % key


@pytest.mark.parametrize("mode,fix", [(0o620, "go-w"), (0o602, "go-w"),
                                      (0o606, "go-w,o-r"),
                                      (0o666, "go-w,o-r")])
def test_a_staging_key_writable_by_group_or_others_is_open(tree, mode, fix):
    folder = tree()
    key = staging_key(folder, mode=mode)
    row = rows(folder)["staging key"]
    assert row.status == "open"
    assert row.fix == "chmod %s %s" % (fix, key)


def test_a_staging_key_owned_by_another_user_is_open(tree):
    folder = tree()
    key = staging_key(folder)
    os.chown(key, OTHER_UID, -1)
    row = rows(folder)["staging key"]
    assert row.status == "open"
    assert "owned by uid %d" % OTHER_UID in row.found
    # The records are glance-api's: a fix gives them to its user (root
    # here, where there is no glance user).
    assert row.fix == "chown %s %s" % (
        "glance" if has_user("glance") else "root", key)
    assert rows(folder, glance_user=str(OTHER_UID))["staging key"].status \
        == "closed"


def test_a_records_folder_writable_by_group_is_open(tree):
    folder = tree()
    key = staging_key(folder, records_mode=0o770)
    row = rows(folder)["staging key"]
    assert row.status == "open"
    assert row.fix == "chmod go-w %s" % key.parent


def test_a_staging_folder_writable_by_others_is_open(tree):
    folder = tree()
    staging_key(folder)
    (folder / "staging").chmod(0o757)
    row = rows(folder)["staging key"]
    assert row.status == "open"
    assert row.fix == "chmod go-w %s" % (folder / "staging")


def test_no_staging_key_yet_is_closed(tree):
    row = rows(tree())["staging key"]
    assert row.status == "closed"
    assert "no records yet" in row.found


def test_a_permission_alone_makes_the_doctor_exit_1(tree):
    folder = tree()
    staging_key(folder, mode=0o644)
    out = run(*config(folder))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "open     staging key" in out.stdout
    assert "1 open, 0 warning(s)" in out.stdout
