"""Fixtures that run the guard inside Glance's real import machinery.

Images are real ``glance.domain`` images in Glance's real database layer
(``glance.db.ImageRepo`` over SQLite), changed only through Glance's real
``ImportActionWrapper``; flows run in a real taskflow engine. Nothing here
stands in for Glance.
"""

import contextlib
import dataclasses
import hashlib
import os
import threading
import time
import uuid

import glance.async_.flows.api_image_import as api_image_import
import glance.common.config  # noqa: F401  (registers Glance's options)
import glance.db
import pytest
from castellan import key_manager
from glance import context as glance_context
from glance import domain
from glance.db.sqlalchemy import models as db_models
from oslo_config import cfg
from oslo_db import options as db_options

from glance_import_guard import keymanager
from support import signing

pytest.register_assert_rewrite("support.e2e")

CONF = cfg.CONF
PROJECT = "6838eb7b6ded434a882cb344c77fe8df"
USER = "0f8ed3ac4ab54d7f8a3ad31c73a2b6f0"
DEFAULT_DATA = b"an image\n" * 1000
REMOTE_TIMEOUT = 5  # [import_guard] remote_timeout of the openstack stack


@pytest.fixture(scope="session")
def glance_db(tmp_path_factory):
    """Glance's config parsed (no files) and a SQLite database."""
    db = tmp_path_factory.mktemp("glance-db") / "glance.sqlite"
    CONF([], project="glance", default_config_files=[])
    CONF.register_opts(key_manager.key_manager_opts, group="key_manager")
    CONF.register_opts(keymanager.certificate_directory_opts,
                       group=keymanager.GROUP)
    db_options.set_defaults(CONF, connection="sqlite:///%s" % db)
    db_api = glance.db.get_api()
    db_models.register_models(db_api.get_engine())
    return db_api


@pytest.fixture
def conf(glance_db):
    """Sets options for one test; every override is undone afterwards."""
    overridden = []

    def set_(group=None, **values):
        for name, value in values.items():
            CONF.set_override(name, value, group=group)
            overridden.append((name, group))

    yield set_
    for name, group in overridden:
        CONF.clear_override(name, group=group)


def make_context(roles=("member",)):
    return glance_context.RequestContext(
        project_id=PROJECT, user_id=USER, roles=list(roles),
        is_admin="admin" in roles)


@dataclasses.dataclass
class ImportCase:
    """One image being imported: the image, its staged file, the wrapper."""

    db_api: object
    image_id: str
    task_id: str
    staged: str
    data: bytes
    stores: list
    context: object

    @property
    def repo(self):
        return glance.db.ImageRepo(self.context, self.db_api)

    @property
    def wrapper(self):
        return api_image_import.ImportActionWrapper(
            self.repo, self.image_id, self.task_id)

    @property
    def image(self):
        return self.repo.get(self.image_id)

    @property
    def uri(self):
        return "file://" + self.staged


@pytest.fixture
def new_import(glance_db, tmp_path):
    """Makes an image with `properties`, stages `data` for it and puts it in
    the state Glance's import API leaves it in before the flow runs:
    status 'importing', the import lock held by the task, the target stores
    in os_glance_importing_to_stores."""

    def make(properties, data=DEFAULT_DATA, roles=("member",),
             stores=("store1",)):
        context = make_context(roles)
        image_id = str(uuid.uuid4())
        task_id = str(uuid.uuid4())
        repo = glance.db.ImageRepo(context, glance_db)
        image = domain.ImageFactory().new_image(
            image_id=image_id, owner=PROJECT, disk_format="raw",
            container_format="bare", extra_properties=dict(properties))
        repo.add(image)
        staged = tmp_path / image_id
        staged.write_bytes(data)
        image = repo.get(image_id)
        image.status = "uploading"
        repo.save(image)
        repo.set_property_atomic(image, "os_glance_import_task", task_id)
        case = ImportCase(glance_db, image_id, task_id, str(staged), data,
                          list(stores), context)
        with case.wrapper as action:
            action.set_image_attribute(status="importing")
            action.add_importing_stores(case.stores)
        return case

    return make


def sha(name, data):
    return hashlib.new(name, data).hexdigest()


@pytest.fixture(scope="session")
def signer(tmp_path_factory):
    """A real RSA key, its self-signed certificate in a certificate
    directory, and the certificate's id."""
    cert_dir = tmp_path_factory.mktemp("certificates")
    key = signing.make_key("RSA-PSS")
    cert_id = str(uuid.uuid4())
    signing.install_certificate(cert_dir, cert_id,
                                signing.make_certificate(key))
    return key, cert_id, cert_dir


@pytest.fixture
def signed_for(conf, signer):
    """Signs data as a user would; Glance's key manager (castellan) serves
    the certificate from the guard's certificate_directory backend."""
    key, cert_id, cert_dir = signer
    conf(group="key_manager", backend="certificate_directory")
    conf(group="certificate_directory", path=str(cert_dir))

    def sign(data, **kwargs):
        kwargs.setdefault("declare", None)
        return signing.signed_properties(key, cert_id, data, **kwargs)

    return sign


@pytest.fixture
def signed_properties(signed_for):
    """Signature properties for DEFAULT_DATA, what new_import stages."""
    return signed_for(DEFAULT_DATA)


@contextlib.contextmanager
def growing(path, pause=0.0005):
    """Appends to `path` from another thread until the block ends."""
    stop = threading.Event()

    def grow():
        with open(path, "ab") as f:
            while not stop.is_set():
                f.write(b"x" * 4096)
                f.flush()
                time.sleep(pause)

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        time.sleep(0.01)
        yield
    finally:
        stop.set()
        writer.join()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """An HTTP server on 127.0.0.1 that web-download imports from."""
    from support import harness
    with harness.FileServer(tmp_path_factory.mktemp("http")) as server:
        yield server


@pytest.fixture
def conn(glance):
    """A project member's openstacksdk connection to the module's
    ``glance`` server (each end-to-end module has that fixture)."""
    return glance.client()


def staged_exists(case):
    return os.path.exists(case.staged)


SUMMARY = []  # lines tests want printed at the end of the run


#: The three kinds of test, one folder each; each test is marked with its
#: folder's kind (``pytest -m unit``, ``make test-quick`` runs unit and
#: flow).
KINDS = ("unit", "flow", "e2e")


def pytest_collection_modifyitems(config, items):
    for item in items:
        kind = item.path.parent.name
        if kind not in KINDS:
            raise pytest.UsageError(
                "%s is not in tests/unit, tests/flow or tests/e2e" % item.path)
        item.add_marker(kind)


def pytest_terminal_summary(terminalreporter):
    """Prints what tests put in SUMMARY (corpus sizes, seeds, counts)."""
    for line in SUMMARY:
        terminalreporter.write_line(line)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test gets the end of every running glance-api's log."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        from support import harness
        for server in harness.GlanceServer.running:
            report.sections.append((
                "glance-api log %s (last 80 lines)" % server.log_path,
                server.log_tail(80)))


@pytest.fixture(scope="session")
def openstack(tmp_path_factory):
    """A real small OpenStack, started once per run: PostgreSQL, Keystone,
    Barbican and a glance-api in each of RegionOne and RegionTwo, with the
    guard as import plugin and paste filter (tests/support/openstack.py).
    Service tokens with the ``service`` role are exempt from the filter
    (``exempt_service_roles``), as for Nova's snapshots; users with the
    ``unsigned-uploader`` role from the signature rule (``exempt_roles``).
    RegionTwo takes images of at most 8 MiB (``image_size_cap``); a
    region waits ``REMOTE_TIMEOUT`` seconds for the other."""
    from support import openstack as stack
    cloud = stack.OpenStack(
        tmp_path_factory.mktemp("openstack"),
        import_guard={"exempt_service_roles": ["service"],
                      "exempt_roles": ["unsigned-uploader"],
                      "remote_timeout": REMOTE_TIMEOUT},
        glance_config={"RegionTwo": {"DEFAULT": {
            "image_size_cap": str(8 << 20)}}})
    with cloud:
        SUMMARY.append("openstack: started in %.1f s (%s)" % (
            cloud.timings["total"], ", ".join(
                "%s %.1f" % kv for kv in cloud.timings.items())))
        yield cloud


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A one-node Ceph (tests/support/ceph.py), started once per run for
    the rbd and the s3 (RADOS Gateway) tests: pools ``images`` and
    ``vms``. Each test compares what the pools hold before and after."""
    import sys

    from support import ceph
    ceph.make_bindings_reachable(sys.prefix)
    with ceph.Ceph(tmp_path_factory.mktemp("ceph")) as found:
        yield found
