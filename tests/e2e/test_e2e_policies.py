"""End to end, the exemptions as policy rules: a real glance-api with the
guard's filter and import plugin and a policy.yaml that Glance reads
(``[oslo_policy] policy_file``), driven by openstacksdk as callers of
several projects, roles and service tokens; then glance-api on the
defaults (nobody exempt), then with the deprecated ``[import_guard]``
options beside a rule (both exempt)."""

import hashlib
import os
import uuid

import openstack.connection
import pytest
from keystoneauth1 import noauth
from keystoneauth1 import session as ks_session

from support import harness
from support.e2e import do_import, new_image

PROJECT = harness.PROJECT_ID
OTHER = uuid.uuid4().hex
BUILDER = ("member", "reader", "image_builder")
RULES = (
    '"import_guard:skip_signature": "role:image_builder and '
    'project_id:%%(project_id)s and project_id:%s"\n'
    '"import_guard:bypass": "service_roles:service"\n' % PROJECT)


def server(folder, policy=None, **kwargs):
    extra = {}
    if policy is not None:
        path = folder / "policy.yaml"
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(policy)
        extra = {"oslo_policy": {"policy_file": str(path)}}
    return harness.GlanceServer(folder, upload_filter=True,
                                extra_config=extra, **kwargs)


@pytest.fixture(scope="module")
def glance(tmp_path_factory):
    with server(tmp_path_factory.mktemp("glance-policies"), RULES) as s:
        yield s


@pytest.fixture(scope="module")
def stock(tmp_path_factory):
    with server(tmp_path_factory.mktemp("glance-stock")) as s:
        yield s


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    with server(tmp_path_factory.mktemp("glance-legacy"),
                '"import_guard:skip_signature": "role:image_builder"\n',
                import_guard={"exempt_roles": ["legacy_builder"],
                              "exempt_service_roles": ["nova"]}) as s:
        yield s


def client(glance, roles=("member", "reader"), project=PROJECT,
           service_roles=()):
    session = ks_session.Session(
        auth=noauth.NoAuth(endpoint=glance.url),
        additional_headers=glance.headers(roles, project_id=project,
                                          service_roles=service_roles))
    return openstack.connection.Connection(
        session=session, image_endpoint_override=glance.url,
        image_api_version="2")


def upload(glance, conn, image_id, data):
    return conn.session.put(
        glance.url + "/v2/images/%s/file" % image_id, data=data,
        raise_exc=False,
        headers={"Content-Type": "application/octet-stream"})


def status(glance, image_id):
    """The image's status, read by an admin on a new connection."""
    return client(glance, ("admin", "member")).image.get_image(
        image_id).status


def assert_uploaded(glance, image, response):
    assert response.status_code == 204, response.text
    assert status(glance, image.id) == "active"
    assert glance.stored(image.id)


def assert_refused_unsigned(glance, image, response):
    assert response.status_code == 400, response.text
    assert "img_signature is missing" in response.text
    assert status(glance, image.id) == "queued"
    assert not glance.stored(image.id)


@pytest.fixture
def data():
    return os.urandom(1 << 16)


def test_the_rules_builder_uploads_unsigned_images_of_its_project(
        glance, data):
    conn = client(glance, BUILDER)
    image = new_image(conn, {})
    assert_uploaded(glance, image, upload(glance, conn, image.id, data))


def test_a_builder_of_another_project_must_sign(glance, data):
    conn = client(glance, BUILDER, project=OTHER)
    image = new_image(conn, {})
    assert_refused_unsigned(glance, image,
                            upload(glance, conn, image.id, data))


def test_the_projects_builder_must_sign_another_projects_image(
        glance, data):
    """The rule's project_id:%(project_id)s: the image's owner."""
    image = new_image(client(glance, project=OTHER), {})
    conn = client(glance, ("admin",) + BUILDER)
    assert_refused_unsigned(glance, image,
                            upload(glance, conn, image.id, data))


def test_a_project_member_must_sign(glance, data):
    conn = client(glance)
    image = new_image(conn, {})
    assert_refused_unsigned(glance, image,
                            upload(glance, conn, image.id, data))


def test_the_builders_declared_digest_is_still_checked(glance, data):
    conn = client(glance, BUILDER)
    image = new_image(conn, {
        "img_hash_algo": "sha256",
        "img_hash_value": hashlib.sha256(b"other").hexdigest()})
    response = upload(glance, conn, image.id, data)
    assert response.status_code == 400, response.text
    assert "does not match img_hash_value" in response.text
    assert "img_signature is missing" not in response.text
    assert status(glance, image.id) == "queued"


def test_the_rules_builder_imports_unsigned_images(glance, data):
    conn = client(glance, BUILDER)
    image = do_import(conn, None, {}, data, "glance-direct")
    assert image.status == "active"
    log = glance.log_path.read_text(errors="replace")
    assert ("import_guard accepted import of image %s without a "
            "signature: the policy rule import_guard:skip_signature "
            "exempts the caller" % image.id) in log


def test_the_rules_builder_may_change_a_verified_property(glance, data):
    """At a door that only refuses (PATCH of what was verified), the rule
    lets the caller through; a member is refused."""
    conn = client(glance, BUILDER)
    image = new_image(conn, {})
    assert_uploaded(glance, image, upload(glance, conn, image.id, data))
    patch = [{"op": "add", "path": "/img_hash_algo", "value": "sha256"}]
    headers = {"Content-Type": "application/openstack-images-v2.1-json-"
               "patch"}
    url = glance.url + "/v2/images/%s" % image.id
    refused = client(glance, ("admin", "member")).session.patch(
        url, json=patch, headers=headers, raise_exc=False)
    assert refused.status_code == 403, refused.text
    assert "verified" in refused.text
    allowed = conn.session.patch(url, json=patch, headers=headers,
                                 raise_exc=False)
    assert allowed.status_code == 200, allowed.text


def test_the_bypass_rule_holds_for_a_service_token_only(glance, data):
    nova = client(glance, service_roles=("service",))
    image = new_image(nova, {})
    assert_uploaded(glance, image, upload(glance, nova, image.id, data))
    user = client(glance, ("member", "reader", "service"))
    image = new_image(user, {})
    assert_refused_unsigned(glance, image,
                            upload(glance, user, image.id, data))


@pytest.mark.parametrize("roles,service_roles", [
    (("admin", "member"), ()), (BUILDER, ()),
    (("member", "reader"), ("service", "admin"))])
def test_on_the_defaults_nobody_is_exempt(stock, data, roles,
                                          service_roles):
    conn = client(stock, roles, service_roles=service_roles)
    image = new_image(conn, {})
    assert_refused_unsigned(stock, image,
                            upload(stock, conn, image.id, data))


@pytest.mark.parametrize("roles,service_roles", [
    (("member", "reader", "legacy_builder"), ()), (BUILDER, ()),
    (("member", "reader"), ("nova",))])
def test_the_deprecated_options_exempt_beside_the_rules(legacy, data, roles,
                                                        service_roles):
    conn = client(legacy, roles, service_roles=service_roles)
    image = new_image(conn, {})
    assert_uploaded(legacy, image, upload(legacy, conn, image.id, data))


def test_with_the_deprecated_options_a_member_still_signs(legacy, data):
    conn = client(legacy)
    image = new_image(conn, {})
    assert_refused_unsigned(legacy, image,
                            upload(legacy, conn, image.id, data))


def test_each_deprecated_option_set_is_warned_about_once(legacy, data):
    for _ in range(2):
        conn = client(legacy, ("member", "reader", "legacy_builder"))
        image = new_image(conn, {})
        upload(legacy, conn, image.id, data)
    log = legacy.log_path.read_text(errors="replace")
    for option, rule in (("exempt_roles", "import_guard:skip_signature"),
                         ("exempt_service_roles", "import_guard:bypass")):
        lines = [line for line in log.splitlines()
                 if "[import_guard] %s is deprecated" % option in line]
        assert len(lines) == 1, lines
        assert '"%s": "' % rule in lines[0]
