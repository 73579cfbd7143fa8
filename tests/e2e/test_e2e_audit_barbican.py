"""``glance-import-guard audit`` where the signing certificates live in
Barbican (tests/support/openstack.py: Keystone 30, Barbican 23 with its
default policy, glance-api in RegionOne).

The audit runs as an operator runs it: with RegionOne's glance-api.conf
and, in glance-api.conf.d/, castellan's credential options for a service
user of its own ("auditor", a reader in the ``service`` project). alice
signs her images with certificates she stores in Barbican in her project
(``demo``) and puts the auditor in the read ACL of the ones the audit is
to read: the least grant Barbican's default policy has for reading
another project's secret. Nothing is mocked; Barbican is stopped for
real."""

import json
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from support import harness, signing, stores
from support.e2e import new_image
from support.openstack import DOMAIN, PASSWORD

CLI = os.path.join(os.path.dirname(sys.executable), "glance-import-guard")
REGION = "RegionOne"


@pytest.fixture(scope="module")
def auditor(openstack):
    """A Keystone user for the audit, with the reader role on the
    ``service`` project and nothing else: (user id, password)."""
    from keystoneclient.v3 import client as ks_client
    ks = ks_client.Client(session=openstack.session("admin"),
                          interface="public")
    password = uuid.uuid4().hex
    user = ks.users.create("auditor-%s" % uuid.uuid4().hex[:8],
                           domain=DOMAIN, password=password)
    service = ks.projects.list(name="service")[0]
    ks.roles.grant(ks.roles.list(name="reader")[0], user=user,
                   project=service)
    yield user.id, password
    ks.users.delete(user)


def config_dir(openstack, folder, import_guard=None, **key_manager):
    """RegionOne's glance-api.conf, and ``[key_manager]`` (and
    ``[import_guard]``) options in glance-api.conf.d/audit.conf (none: the
    file is not written)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(openstack.glance(REGION).workdir / "glance-api.conf",
                folder / "glance-api.conf")
    sections = {"key_manager": key_manager,
                "import_guard": import_guard or {}}
    text = "".join("[%s]\n%s" % (name, "".join(
        "%s = %s\n" % kv for kv in options.items()))
        for name, options in sections.items() if options)
    if text:
        (folder / "glance-api.conf.d").mkdir(exist_ok=True)
        (folder / "glance-api.conf.d" / "audit.conf").write_text(text)
    return folder


def credentials(openstack, user_id, password):
    """castellan's credential options for a user in the service
    project."""
    return {"auth_type": "keystone_password",
            "auth_url": openstack.auth_url,
            "user_id": user_id, "password": password,
            "project_name": "service", "project_domain_id": DOMAIN}


@pytest.fixture(scope="module")
def operator(openstack, auditor, tmp_path_factory):
    """The audit's configuration folder, with the auditor's credentials."""
    return config_dir(openstack, tmp_path_factory.mktemp("audit-conf"),
                      **credentials(openstack, *auditor))


def share_with(openstack, cert_id, user_id):
    """alice puts ``user_id`` in the read ACL of her secret."""
    openstack.barbican_client("alice").acls.create(
        entity_ref="%s/v1/secrets/%s" % (openstack.barbican.url, cert_id),
        users=[user_id]).submit()


def signed_image(openstack, key, cert_id):
    """An image of alice's (project demo), signed, imported in RegionOne;
    returns its id."""
    data = os.urandom(256 * 1024) + b"audited"
    conn = openstack.connection("alice", REGION)
    image = new_image(conn, signing.signed_properties(key, cert_id, data))
    conn.image.stage_image(image, data=data)
    conn.image.import_image(image, method="glance-direct")
    image = harness.wait_for_import(conn, image.id)
    assert image.status == "active"
    assert image.owner == openstack.project_id("alice")
    return image.id


@pytest.fixture(scope="module")
def shared(openstack, auditor):
    """alice's signed image whose certificate she shares with the
    auditor."""
    key, cert_id = openstack.signer("alice")
    share_with(openstack, cert_id, auditor[0])
    return signed_image(openstack, key, cert_id)


def audit(folder, *image_ids):
    result = subprocess.run(
        [CLI, "audit", *stores.config_args(folder), "--format", "json-lines",
         *("--image=%s" % i for i in image_ids)],
        capture_output=True, text=True, timeout=300)
    rows = {}
    for line in result.stdout.splitlines():
        row = json.loads(line)
        rows[row["image"]] = row
    assert set(rows) == set(image_ids), result.stderr[-3000:]
    return result, rows


def test_another_projects_signed_image_audits_ok_with_the_operators_credentials(  # noqa: E501
        openstack, operator, shared):
    result, rows = audit(operator, shared)
    assert rows[shared]["verdict"] == "ok", rows[shared]["messages"]
    assert result.returncode == 0, result.stderr


def test_with_barbican_down_a_signed_image_is_certificate_unavailable_and_the_audit_passes(  # noqa: E501
        openstack, operator, shared):
    with openstack.barbican_down():
        result, rows = audit(operator, shared)
    assert rows[shared]["verdict"] == "certificate-unavailable"
    assert rows[shared]["findings"] == ["certificate-unavailable"]
    assert rows[shared]["messages"][0].startswith(
        "certificate-unavailable: unreachable: the key manager did not "
        "answer"), rows[shared]["messages"]
    assert result.returncode == 0, result.stderr


def test_once_barbican_is_back_the_image_audits_ok_again(openstack, operator,
                                                        shared):
    with openstack.barbican_down():
        _, down = audit(operator, shared)
    assert down[shared]["verdict"] == "certificate-unavailable"
    result, rows = audit(operator, shared)
    assert rows[shared]["verdict"] == "ok", rows[shared]["messages"]
    assert result.returncode == 0


def test_with_barbican_down_a_tampered_image_still_fails_the_audit(
        openstack, operator, auditor):
    key, cert_id = openstack.signer("alice")
    share_with(openstack, cert_id, auditor[0])
    image_id = signed_image(openstack, key, cert_id)
    with open(openstack.image_path(image_id, REGION), "r+b") as f:
        f.write(b"tampered")
    with openstack.barbican_down():
        result, rows = audit(operator, image_id)
    assert rows[image_id]["verdict"] == "mismatch"
    assert "certificate-unavailable" in rows[image_id]["findings"]
    assert result.returncode == 1


def test_without_credentials_a_signed_image_is_certificate_unavailable_not_signature_bad(  # noqa: E501
        openstack, shared, tmp_path):
    """glance-api.conf as the stack writes it: castellan's barbican
    backend and no ``[key_manager] auth_type``."""
    result, rows = audit(config_dir(openstack, tmp_path), shared)
    assert rows[shared]["verdict"] == "certificate-unavailable"
    assert "signature-bad" not in rows[shared]["findings"]
    assert rows[shared]["messages"][0].startswith(
        "certificate-unavailable: no-credentials:"), rows[shared]["messages"]
    assert result.returncode == 0, result.stderr


def test_a_certificate_not_shared_with_the_auditor_is_forbidden_not_signature_bad(  # noqa: E501
        openstack, operator):
    key, cert_id = openstack.signer("alice")
    image_id = signed_image(openstack, key, cert_id)
    result, rows = audit(operator, image_id)
    assert rows[image_id]["verdict"] == "certificate-unavailable"
    assert rows[image_id]["messages"][0].startswith(
        "certificate-unavailable: forbidden:"), rows[image_id]["messages"]
    assert result.returncode == 0


def test_the_clouds_admin_may_not_read_another_projects_certificate(
        openstack, shared, tmp_path):
    """The admin role (here on the admin project) is not the grant:
    Barbican's ``secret:decrypt`` wants the secret's project or its ACL."""
    admin = config_dir(openstack, tmp_path, **dict(
        credentials(openstack, openstack.user_id("admin"),
                    PASSWORD % "admin"),
        project_name="admin"))
    result, rows = audit(admin, shared)
    assert rows[shared]["verdict"] == "certificate-unavailable"
    assert rows[shared]["messages"][0].startswith(
        "certificate-unavailable: forbidden:"), rows[shared]["messages"]
    assert result.returncode == 0


def test_a_deleted_certificate_is_certificate_unavailable_not_found(
        openstack, operator, auditor):
    key, cert_id = openstack.signer("alice")
    share_with(openstack, cert_id, auditor[0])
    image_id = signed_image(openstack, key, cert_id)
    openstack.barbican_client("alice").secrets.delete(
        "%s/v1/secrets/%s" % (openstack.barbican.url, cert_id))
    result, rows = audit(operator, image_id)
    assert rows[image_id]["verdict"] == "certificate-unavailable"
    assert rows[image_id]["messages"][0].startswith(
        "certificate-unavailable: not-found:"), rows[image_id]["messages"]
    assert result.returncode == 0


def test_a_trusted_certificate_the_audit_may_not_read_is_certificate_unavailable(  # noqa: E501
        openstack, auditor, shared, tmp_path):
    """The trust check needs every trusted certificate: one the auditor
    may not read leaves the signature unchecked, not bad."""
    _, unshared = openstack.signer("alice")
    folder = config_dir(openstack, tmp_path,
                        import_guard={"trusted_certificate_ids": unshared},
                        **credentials(openstack, *auditor))
    result, rows = audit(folder, shared)
    assert rows[shared]["verdict"] == "certificate-unavailable"
    assert rows[shared]["messages"][0].startswith(
        "certificate-unavailable: forbidden: the trust of the signing "
        "certificate could not be checked"), rows[shared]["messages"]
    assert result.returncode == 0


def test_a_barbican_credential_castellan_cannot_use_is_a_usage_error(
        openstack, tmp_path):
    folder = config_dir(openstack, tmp_path, auth_type="password",
                        username="auditor", password="x")
    result = subprocess.run(
        [CLI, "audit", *stores.config_args(folder)], capture_output=True,
        text=True, timeout=300)
    assert result.returncode == 2
    assert "castellan's barbican backend takes only keystone_password" in \
        result.stderr
