"""Steps and checks shared by the end-to-end tests (see harness.py)."""

import hashlib
import uuid

from support import harness


def new_image(conn, properties):
    return conn.image.create_image(
        name="e2e-%s" % uuid.uuid4().hex[:8], disk_format="raw",
        container_format="bare", **properties)


def start_import(conn, files, image, data, method):
    if method == "glance-direct":
        conn.image.stage_image(image, data=data)
        conn.image.import_image(image, method="glance-direct")
    else:
        conn.image.import_image(image, method="web-download",
                                uri=files.publish(data))


def do_import(conn, files, properties, data, method):
    image = new_image(conn, properties)
    start_import(conn, files, image, data, method)
    return harness.wait_for_import(conn, image.id)


def assert_refused(glance, conn, image, *reasons):
    """Refused and retryable: queued, store marked failed, no lock, no
    staged or stored data, the task failed with the guard's message."""
    assert image.status == "queued"
    props = image.properties
    assert props.get("os_glance_failed_import") == harness.STORE
    assert not props.get("os_glance_importing_to_stores")
    assert "os_glance_import_task" not in props
    assert not glance.staged(image.id), "staged data left behind"
    assert not glance.stored(image.id), "data reached a store"
    task = harness.last_task(conn, image.id)
    assert task.status == "failure"
    assert "Internal Error" not in task.message
    assert "Image %s was not imported" % image.id in task.message
    for reason in reasons:
        assert reason in task.message
    return task.message


def assert_active(glance, image, data):
    assert image.status == "active", image
    assert image.size == len(data)
    assert image.hash_algo == "sha512"
    assert image.hash_value == hashlib.sha512(data).hexdigest()
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert "os_glance_import_task" not in image.properties
    assert not glance.staged(image.id)
    assert glance.stored(image.id)
