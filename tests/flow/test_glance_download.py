"""glance-download at flow level: Glance's own ``_ImportMetadata`` reads the
remote image's record from a "remote region" (an HTTP server on 127.0.0.1
found through the request's service catalog, as Glance finds it), Glance's
own download task's revert restores the image, and the guard checks the
downloaded bytes against the remote ``os_hash_value`` and signature.

The download itself is what ``new_import`` staged (the real download runs
in the end-to-end tests against a real second region)."""

import hashlib
import http.server
import json
import os
import threading
import uuid

import pytest
from glance import context as glance_context
from glance.async_.flows import api_image_import
from glance.async_.flows import plugins as glance_plugins
from glance.async_.flows._internal_plugins import glance_download
from glance.common import exception as glance_exception
from taskflow import engines, retry
from taskflow.patterns import linear_flow as lf
from test_plugin import assert_retryable_after_refusal

from conftest import PROJECT, USER
from glance_import_guard import plugin

TASK_TYPE = "api_image_import"
REGION = "RegionTwo"


class _Remote(http.server.BaseHTTPRequestHandler):
    records = {}

    def do_GET(self):
        image_id = self.path.rsplit("/", 1)[-1]
        record = self.records.get(image_id)
        if record is None:
            self.send_error(404)
            return
        body = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def region():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Remote)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def setup(conf, region, tmp_path):
    conf(group="image_import_opts", image_import_plugins=["import_guard"])
    conf(group="import_filtering_opts", allowed_ports=[region.server_port],
         allowed_hosts=["127.0.0.1"])
    conf(node_staging_uri="file://%s" % tmp_path)


def remote_image(data, **fields):
    """A remote image record, active, with the os_hash of ``data``."""
    record = {"id": str(uuid.uuid4()), "status": "active",
              "size": len(data), "disk_format": "raw",
              "container_format": "bare", "os_hash_algo": "sha512",
              "os_hash_value": hashlib.sha512(data).hexdigest()}
    record.update(fields)
    record = {k: v for k, v in record.items() if v is not None}
    _Remote.records[record["id"]] = record
    return record


class _Downloaded(glance_download._DownloadGlanceImage):
    """Glance's download task with its revert; its download is what
    ``new_import`` staged."""

    def __init__(self, case, *args):
        self.case = case
        super().__init__(*args)

    def execute(self, image_size):
        return self.case.uri


def download_flow(case, region, remote_id, order=("metadata", "download")):
    """Glance's glance-download flow head: lock, ``_ImportMetadata``, the
    download task, ``_VerifyStaging``'s output, then the plugins Glance's
    loader finds. One ImportActionWrapper for all, as in Glance."""
    context = glance_context.RequestContext(
        project_id=PROJECT, user_id=USER, roles=["member", "reader"],
        auth_token="a-token", service_catalog=[{
            "type": "image", "name": "glance", "endpoints": [{
                "region": REGION,
                "publicURL": "http://127.0.0.1:%d" % region.server_port}]}])
    case.context = context
    wrapper = case.wrapper
    method = {"name": "glance-download", "glance_region": REGION,
              "glance_image_id": remote_id,
              "glance_service_interface": "public"}
    kwargs = dict(
        context=context, task_id=case.task_id, task_type=TASK_TYPE,
        task_repo=None, image_repo=case.repo, image_factory=None,
        backend=case.stores, admin_repo=None, image_id=case.image_id,
        import_req={"method": method}, action_wrapper=wrapper)
    tasks = {
        "metadata": api_image_import._ImportMetadata(
            case.task_id, TASK_TYPE, context, wrapper, {"method": method}),
        "download": _Downloaded(case, context, case.task_id, TASK_TYPE,
                                wrapper, case.stores, REGION, remote_id,
                                "public"),
    }
    flow = lf.Flow(TASK_TYPE, retry=retry.AlwaysRevert())
    flow.add(api_image_import._ImageLock(case.task_id, TASK_TYPE, wrapper))
    for name in order:
        flow.add(tasks[name])
    for p in glance_plugins.get_import_plugins(**kwargs):
        flow.add(p)
    return flow


def run(case, region, remote_id, **kwargs):
    flow = download_flow(case, region, remote_id, **kwargs)
    # image_size: what the download task needs when it runs first
    engines.load(flow, store={"file_path": case.uri,
                              "image_size": len(case.data)}).run()


def refuse(case, region, remote_id, **kwargs):
    with pytest.raises(glance_exception.UploadException) as info:
        run(case, region, remote_id, **kwargs)
    assert isinstance(info.value, plugin.ImportRefused), info.value
    message = str(info.value)
    assert case.image_id in message
    return message


def assert_retryable(case):
    # The download task's revert removes what it downloaded; here that is
    # new_import's file, which it does not know (see _Downloaded).
    assert_retryable_after_refusal(case, staged_removed=False)


@pytest.mark.parametrize("order", [("metadata", "download"),
                                   ("download", "metadata")])
def test_refusal_ends_with_the_guards_message_and_no_lock(
        new_import, region, order):
    """Both of Glance's reverts set the image to queued; in either order the
    task ends with the guard's message and the image is retryable."""
    data = os.urandom(2048)
    remote = remote_image(data)
    case = new_import({}, data=data)  # unsigned, no signature remotely
    message = refuse(case, region, remote["id"], order=order)
    assert "this cloud imports only signed images" in message
    assert_retryable(case)


def test_without_the_fix_glance_reverts_fail_and_keep_the_lock(
        new_import, region, monkeypatch):
    """What the guard mends: with Glance's plain wrapper the second revert
    raises and the import lock stays (the test above would fail)."""
    monkeypatch.setattr(plugin, "_tolerate_double_revert", lambda w: None)
    data = os.urandom(2048)
    remote = remote_image(data)
    case = new_import({}, data=data)
    with pytest.raises(glance_exception.InvalidImageStatusTransition):
        run(case, region, remote["id"])
    assert case.image.extra_properties.get("os_glance_import_task") == \
        case.task_id


def test_signed_remote_image_is_imported_with_its_signature(
        new_import, region, signed_for):
    """The local image has no signature; the remote one has, and it
    verifies over the downloaded bytes: the local image takes it."""
    data = os.urandom(4096)
    signed = signed_for(data)
    remote = remote_image(data, **signed)
    case = new_import({}, data=data)
    run(case, region, remote["id"])
    props = case.image.extra_properties
    for name, value in signed.items():
        assert props[name] == value
    assert case.image.status == "importing"  # the stores' tasks come next


def test_tampered_download_is_refused_naming_remote_image_region_digests(
        new_import, region, signed_for):
    data = os.urandom(4096)
    remote = remote_image(data, **signed_for(data))
    tampered = data[:-1] + bytes([data[-1] ^ 1])
    case = new_import({}, data=tampered)
    message = refuse(case, region, remote["id"])
    assert ("the downloaded data does not match the remote image %s in "
            "region %s" % (remote["id"], REGION)) in message
    assert hashlib.sha512(tampered).hexdigest() in message
    assert remote["os_hash_value"] in message
    assert "img_signature does not match the image data" in message
    assert_retryable(case)
    assert "img_signature" not in case.image.extra_properties


def test_remote_image_without_os_hash_value_is_refused_by_default(
        new_import, region, signed_for, conf):
    data = os.urandom(1024)
    remote = remote_image(data, os_hash_algo=None, os_hash_value=None,
                          **signed_for(data))
    case = new_import({}, data=data)
    message = refuse(case, region, remote["id"])
    assert "has no os_hash_value" in message
    assert "require_remote_hash" in message
    assert_retryable(case)

    conf(group="import_guard", require_remote_hash=False)
    again = new_import({}, data=data)
    run(again, region, remote["id"])
    assert again.image.extra_properties["img_signature"]


def test_local_signature_is_kept_and_checked(new_import, region,
                                             signed_for):
    """A local image that has its own signature set keeps it; a wrong one
    is refused even though the remote image's would verify."""
    data = os.urandom(1024)
    remote = remote_image(data, **signed_for(data))
    wrong = signed_for(b"other bytes")
    case = new_import(wrong, data=data)
    message = refuse(case, region, remote["id"])
    assert "img_signature does not match the image data" in message


def test_remote_hash_of_another_algorithm_is_computed(new_import, region,
                                                      signed_for):
    data = os.urandom(1024)
    remote = remote_image(data, os_hash_algo="sha3_256",
                          os_hash_value=hashlib.sha3_256(data).hexdigest(),
                          **signed_for(data))
    case = new_import({}, data=data)
    run(case, region, remote["id"])
    bad = remote_image(data, os_hash_algo="sha3_256",
                       os_hash_value=hashlib.sha3_256(b"x").hexdigest(),
                       **signed_for(data))
    again = new_import({}, data=data)
    assert "remote image's os_hash_value is %s" % bad["os_hash_value"] in \
        refuse(again, region, bad["id"])


def test_remote_image_that_went_away_is_refused(new_import, region,
                                                signed_for):
    """Glance's _ImportMetadata read it; by the guard's turn it is gone."""
    data = os.urandom(1024)
    remote = remote_image(data, **signed_for(data))
    case = new_import({}, data=data)
    flow = download_flow(case, region, remote["id"])

    class Vanish(api_image_import.task.Task):
        def execute(self):
            del _Remote.records[remote["id"]]

    nodes = [node for node, _ in flow.iter_nodes()]
    flow = lf.Flow(TASK_TYPE, retry=retry.AlwaysRevert()).add(
        *nodes[:3], Vanish(), *nodes[3:])
    with pytest.raises(glance_exception.UploadException) as info:
        engines.load(flow, store={"file_path": case.uri}).run()
    assert ("the remote image %s in region %s cannot be imported: it does "
            "not exist or this project cannot see it" % (
                remote["id"], REGION)) in str(info.value)
    assert_retryable(case)


def test_bigger_than_image_size_cap_is_refused(new_import, region, conf,
                                               signed_for):
    data = os.urandom(1024)
    remote = remote_image(data, **signed_for(data))
    conf(image_size_cap=1000)
    case = new_import({}, data=data)
    assert "it has 1024 bytes, more than this cloud's image_size_cap of " \
        "1000" in refuse(case, region, remote["id"])
    assert_retryable(case)
