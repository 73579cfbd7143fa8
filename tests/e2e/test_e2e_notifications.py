"""End to end, the guard's notifications: a real glance-api (guard as
import plugin and paste filter) whose ``[oslo_messaging_notifications]``
sends to a real RabbitMQ node (tests/support/rabbitmq.py, started once per
run), and an oslo.messaging notification listener on Glance's exchange
and topic, where Glance's own ``image.*`` notifications arrive too.

Every refusal, at every door, is ``image.import_guard.refused`` (WARN);
every use of an exempt role is ``image.import_guard.exempted`` (INFO).
"""

import contextlib
import json
import os
import socket
import threading
import time

import pytest

from conftest import SUMMARY
from support import harness, rabbitmq, signing
from support.e2e import new_image
from support.signing import tampered

REFUSED = "image.import_guard.refused"
EXEMPTED = "image.import_guard.exempted"
PUBLISHER = "image.guard-e2e"
#: Glance's notifications: [oslo_messaging_notifications] topics (default
#: "notifications") on the exchange glance.notifier.set_defaults names.
TOPIC, EXCHANGE = "notifications", "glance"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@pytest.fixture(scope="session")
def rabbit():
    server = rabbitmq.RabbitServer()
    try:
        server.start()
    except RuntimeError as e:
        pytest.fail("RabbitMQ could not start: %s" % e, pytrace=False)
    SUMMARY.append("notifications: RabbitMQ started in %.1f s"
                   % server.startup_seconds)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def listener(rabbit):
    found = rabbitmq.Listener(rabbit.url, topic=TOPIC,
                              exchange=EXCHANGE).start()
    yield found
    found.stop()


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    cert_dir = tmp_path_factory.mktemp("notify-certs")
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, "uploader",
                                signing.make_certificate(key))
    return key, cert_dir


def notifications(rabbit, driver="messagingv2", url=None):
    return {"oslo_messaging_notifications": {
        "driver": driver, "transport_url": url or rabbit.url},
        "DEFAULT": {"default_publisher_id": PUBLISHER}}


def server(workdir, signer, extra_config):
    return harness.GlanceServer(
        workdir, certificate_dir=signer[1], upload_filter=True,
        show_multiple_locations=True,
        import_guard={"exempt_service_roles": ["service"],
                      "exempt_roles": ["unsigned-uploader"]},
        extra_config=extra_config)


@pytest.fixture(scope="module")
def glance(tmp_path_factory, signer, rabbit, listener):
    with server(tmp_path_factory.mktemp("glance-notify"), signer,
                notifications(rabbit)) as found:
        yield found


@pytest.fixture
def data():
    return os.urandom(1 << 20)


def upload(glance, conn, image_id, body):
    return conn.session.put(
        glance.url + "/v2/images/%s/file" % image_id, data=body,
        raise_exc=False,
        headers={"Content-Type": "application/octet-stream"})


def event(listener, event_type, **payload):
    """The one notification of ``event_type`` whose payload has
    ``payload``'s items (waits for it; fails if there are two)."""
    def match(e):
        return e["event_type"] == event_type and all(
            field(e, k) == v for k, v in payload.items())
    found = listener.wait_for(match)
    time.sleep(0.5)  # a second one would have come with the first
    assert listener.matching(match) == [found], listener.matching(match)
    return found


def assert_refused(found, request_id, door, codes):
    """A refusal's notification, Glance's style: WARN, Glance's
    publisher_id, every field of the payload."""
    assert found["priority"] == "WARN"
    assert found["publisher_id"] == PUBLISHER
    payload = found["payload"]
    assert set(payload) == {"image_id", "project_id", "user_id",
                            "request_id", "door", "codes", "message"}
    assert payload["project_id"] == harness.PROJECT_ID
    assert payload["user_id"] == harness.USER_ID
    assert payload["door"] == door
    if request_id is not None:
        assert payload["request_id"] == request_id
    assert payload["request_id"].startswith("req-")
    for code in codes:
        assert code in payload["codes"], payload
    return payload


def field(e, name):
    """``name`` of the event's payload (Glance's error events carry a
    string, not a dict)."""
    payload = e["payload"]
    return payload.get(name) if isinstance(payload, dict) else None


# --- refused, door by door ------------------------------------------------

def test_an_unsigned_upload_is_notified_as_refused(glance, listener, conn,
                                                   data):
    image = new_image(conn, {})
    response = upload(glance, conn, image.id, data)
    assert response.status_code == 400, response.text
    found = event(listener, REFUSED, image_id=image.id)
    payload = assert_refused(found, response.headers[
        "x-openstack-request-id"], "upload", ["missing-signature-property"])
    # What the user was told, word for word.
    assert payload["message"] in response.text
    assert payload["message"].startswith(
        "Image %s was not uploaded" % image.id)


def test_an_unsigned_import_is_notified_as_refused_before_its_task(
        glance, listener, conn, data):
    image = new_image(conn, {})
    conn.image.stage_image(image, data=data)
    response = conn.session.post(
        glance.url + "/v2/images/%s/import" % image.id, raise_exc=False,
        json={"method": {"name": "glance-direct"}})
    assert response.status_code == 400, response.text
    found = event(listener, REFUSED, image_id=image.id)
    payload = assert_refused(found, response.headers[
        "x-openstack-request-id"], "precheck", ["missing-signature-property"])
    assert payload["message"] in response.text


def test_an_import_of_other_bytes_is_notified_by_the_import_plugin(
        glance, listener, conn, signer, data):
    image = new_image(conn, signing.signed_properties(signer[0], "uploader",
                                                      data))
    conn.image.stage_image(image, data=tampered(data))
    response = conn.session.post(
        glance.url + "/v2/images/%s/import" % image.id, raise_exc=False,
        json={"method": {"name": "glance-direct"}})
    assert response.status_code == 202, response.text
    found = event(listener, REFUSED, image_id=image.id)
    payload = assert_refused(found, None, "import", ["digest-mismatch"])
    after = harness.wait_for_import(conn, image.id)
    assert after.status == "queued"
    task = harness.last_task(conn, image.id)
    assert task.status == "failure"
    assert payload["message"] in task.message


def test_a_refused_patch_of_a_verified_property_is_notified(
        glance, listener, conn, signer, data):
    image = new_image(conn, signing.signed_properties(signer[0], "uploader",
                                                      data))
    assert upload(glance, conn, image.id, data).status_code == 204
    response = conn.session.patch(
        glance.url + "/v2/images/%s" % image.id, raise_exc=False,
        json=[{"op": "replace", "path": "/img_hash_value", "value": "x"}],
        headers=PATCH)
    assert response.status_code == 403, response.text
    found = event(listener, REFUSED, image_id=image.id)
    payload = assert_refused(found, response.headers[
        "x-openstack-request-id"], "patch", ["verified-property-change"])
    assert payload["message"] in response.text


def test_a_refused_location_add_is_notified(glance, listener, conn):
    image = new_image(conn, {})
    url = "http://127.0.0.1:9/elsewhere"
    response = conn.session.patch(
        glance.url + "/v2/images/%s" % image.id, raise_exc=False,
        json=[{"op": "add", "path": "/locations/-",
               "value": {"url": url, "metadata": {}}}], headers=PATCH)
    assert response.status_code == 403, response.text
    found = event(listener, REFUSED, image_id=image.id, door="patch")
    assert_refused(found, response.headers["x-openstack-request-id"],
                   "patch", ["location-refused"])


def test_a_refused_call_of_the_locations_api_is_notified(glance, listener,
                                                         conn):
    image = new_image(conn, {})
    response = conn.session.post(
        glance.url + "/v2/images/%s/locations" % image.id, raise_exc=False,
        json={"url": "http://127.0.0.1:9/elsewhere"})
    # NOTE: the locations API is glance 29+ (glance/api/v2/router.py);
    # the venv's glance has it.
    assert response.status_code == 403, response.text
    found = event(listener, REFUSED, image_id=image.id, door="location")
    assert_refused(found, response.headers["x-openstack-request-id"],
                   "location", ["location-refused"])


def test_a_refused_task_create_is_notified(glance, listener):
    admin = glance.client(roles=("admin", "member", "reader"))
    response = admin.session.post(
        glance.url + "/v2/tasks", raise_exc=False,
        json={"type": "import", "input": {
            "import_from": "http://127.0.0.1:9/x",
            "import_from_format": "raw",
            "image_properties": {"disk_format": "raw",
                                 "container_format": "bare"}}})
    assert response.status_code == 403, response.text
    request_id = response.headers["x-openstack-request-id"]
    found = event(listener, REFUSED, request_id=request_id)
    payload = assert_refused(found, request_id, "task",
                             ["legacy-task-refused"])
    assert payload["image_id"] is None  # no image yet


# --- exempted -------------------------------------------------------------

def test_an_exempt_import_is_notified_with_the_role_used(glance, listener,
                                                         data):
    tess = glance.client(roles=("member", "reader", "unsigned-uploader"))
    image = new_image(tess, {})
    tess.image.stage_image(image, data=data)
    tess.image.import_image(image, method="glance-direct")
    assert harness.wait_for_import(tess, image.id).status == "active"
    found = event(listener, EXEMPTED, image_id=image.id)
    assert found["priority"] == "INFO"
    assert found["publisher_id"] == PUBLISHER
    payload = found["payload"]
    assert set(payload) == {"image_id", "project_id", "user_id",
                            "request_id", "door", "roles"}
    assert payload["door"] == "import"
    assert payload["roles"] == ["unsigned-uploader"]
    assert payload["user_id"] == harness.USER_ID
    assert payload["project_id"] == harness.PROJECT_ID
    assert not listener.matching(
        lambda e: e["event_type"] == REFUSED
        and field(e, "image_id") == image.id)


def test_an_exempt_service_token_upload_is_notified(glance, listener, data):
    nova = glance.client(service_roles=["service"])
    image = new_image(nova, {})
    response = upload(glance, nova, image.id, data)
    assert response.status_code == 204, response.text
    found = event(listener, EXEMPTED, image_id=image.id)
    assert found["priority"] == "INFO"
    assert found["payload"]["door"] == "upload"
    assert found["payload"]["roles"] == ["service"]
    assert found["payload"]["request_id"] == response.headers[
        "x-openstack-request-id"]


def test_an_accepted_signed_upload_sends_no_guard_notification(
        glance, listener, conn, signer, data):
    image = new_image(conn, signing.signed_properties(signer[0], "uploader",
                                                      data))
    assert upload(glance, conn, image.id, data).status_code == 204
    # Glance's own image.upload comes after the data is stored.
    listener.wait_for(lambda e: e["event_type"] == "image.upload"
                      and field(e, "id") == image.id)
    assert not listener.matching(
        lambda e: e["event_type"].startswith("image.import_guard.")
        and field(e, "image_id") == image.id)


# --- the same bus as Glance's ---------------------------------------------

def test_glances_own_notifications_arrive_on_the_same_listener(
        glance, listener, conn, data):
    image = new_image(conn, {})
    created = listener.wait_for(lambda e: e["event_type"] == "image.create"
                                and field(e, "id") == image.id)
    assert created["publisher_id"] == PUBLISHER
    assert created["priority"] == "INFO"
    assert upload(glance, conn, image.id, data).status_code == 400
    refused = event(listener, REFUSED, image_id=image.id)
    assert refused["publisher_id"] == created["publisher_id"]


# --- other drivers, and no bus --------------------------------------------

def assert_refused_upload(glance, data):
    conn = glance.client()
    image = new_image(conn, {})
    began = time.monotonic()
    response = conn.session.put(
        glance.url + "/v2/images/%s/file" % image.id, data=data,
        raise_exc=False, timeout=60,
        headers={"Content-Type": "application/octet-stream"})
    took = time.monotonic() - began
    assert response.status_code == 400, response.text
    assert "Image %s was not uploaded" % image.id in response.text
    assert glance.client().image.get_image(image.id).status == "queued"
    return image, response, took


def test_with_the_log_driver_the_notification_is_a_glance_log_line(
        tmp_path, rabbit, signer, listener, data):
    with server(tmp_path, signer, notifications(rabbit, "log")) as glance:
        image, response, _ = assert_refused_upload(glance, data)
        deadline = time.monotonic() + 10
        while True:
            lines = [line for line in glance.log_path.read_text(
                errors="replace").splitlines()
                if "oslo.messaging.notification.%s" % REFUSED in line
                and image.id in line]
            if lines or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert len(lines) == 1, glance.log_tail()
    message = json.loads(lines[0][lines[0].index("{"):])
    assert message["event_type"] == REFUSED
    assert message["priority"] == "WARN"
    assert message["publisher_id"] == PUBLISHER
    assert message["payload"]["image_id"] == image.id
    assert message["payload"]["door"] == "upload"
    assert message["payload"]["request_id"] == response.headers[
        "x-openstack-request-id"]
    assert "missing-signature-property" in message["payload"]["codes"]
    # Nothing went to the bus.
    assert not listener.matching(
        lambda e: field(e, "image_id") == image.id)


def test_with_the_noop_driver_nothing_is_sent_and_the_refusal_holds(
        tmp_path, rabbit, signer, listener, data):
    with server(tmp_path, signer, notifications(rabbit, "noop")) as glance:
        image, _, _ = assert_refused_upload(glance, data)
        time.sleep(3)
        log = glance.log_path.read_text(errors="replace")
    assert "import_guard refused upload of image %s" % image.id in log
    assert "oslo.messaging.notification" not in log
    assert not listener.matching(
        lambda e: image.id in (field(e, "image_id"),
                               field(e, "id")))


@pytest.fixture
def silent_bus():
    """A transport_url whose "broker" takes connections and never says a
    word: each send waits there for the AMQP client's connect timeout
    (measured: 5 s per notification with oslo.messaging 18.3 and kombu
    5.7, which then give up and log)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(sock.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield "rabbit://guest:guest@127.0.0.1:%d/" % sock.getsockname()[1]
    stop.set()
    for c in held:
        c.close()
    sock.close()


def test_disabled_notifications_turns_the_guards_off_not_glances(
        tmp_path, rabbit, signer, listener, data):
    config = notifications(rabbit)
    config["DEFAULT"]["disabled_notifications"] = "image.import_guard"
    with server(tmp_path, signer, config) as glance:
        image, _, _ = assert_refused_upload(glance, data)
        # Glance's own event of the same refused upload is on the bus.
        listener.wait_for(lambda e: e["event_type"] == "image.upload"
                          and image.id in str(e["payload"]))
        time.sleep(2)
    assert not listener.matching(
        lambda e: e["event_type"].startswith("image.import_guard.")
        and field(e, "image_id") == image.id)


def test_a_bus_that_does_not_answer_delays_no_refusal(
        tmp_path, rabbit, signer, data, silent_bus):
    """The refusal is the same 400, at once: the guard sends from a
    thread of its own, not from the request. Glance's own events of these
    requests are turned off: Glance sends them in the request, which
    would wait for the silent bus each time."""
    config = notifications(rabbit, url=silent_bus)
    config["DEFAULT"]["disabled_notifications"] = (
        "image.create,image.prepare,image.upload,image.activate,"
        "image.update,image.delete")
    with server(tmp_path, signer, config) as glance:
        refused = [assert_refused_upload(glance, data) for _ in range(3)]
        # The send was tried (from the guard's thread) and its failure
        # logged by Glance's notifier; the answers did not wait for it.
        deadline = time.monotonic() + 30
        while "Could not send notification" not in glance.log_path.read_text(
                errors="replace") and time.monotonic() < deadline:
            time.sleep(0.5)
        log = glance.log_path.read_text(errors="replace")
    took = [t for _, _, t in refused]
    assert max(took) < 2.5, took
    failed = [line for line in log.splitlines()
              if "Could not send notification" in line]
    assert failed, log[-3000:]
    assert REFUSED in failed[0] and refused[0][0].id in failed[0], failed[0]
