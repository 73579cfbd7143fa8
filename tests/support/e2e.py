"""Steps and checks shared by the end-to-end tests (see harness.py)."""

import hashlib
import uuid

from support import harness


def new_image(conn, properties):
    return conn.image.create_image(
        name="e2e-%s" % uuid.uuid4().hex[:8], disk_format="raw",
        container_format="bare", **properties)


#: image id -> the 400 its import request got: refused at once by the
#: guard (glance_import_guard.doors.precheck), before any task existed.
_REFUSED_AT_ONCE = {}


def start_import(conn, files, image, data, method):
    """Stages the data (glance-direct) and asks for the import. Returns the
    answer (a 400) to an import request that the guard refused at once, or
    None when Glance started the import."""
    from openstack import exceptions
    if method == "glance-direct":
        conn.image.stage_image(image, data=data)
        kwargs = {"method": "glance-direct"}
    else:
        kwargs = {"method": "web-download", "uri": files.publish(data)}
    try:
        # openstacksdk returns the answer without raising on an error.
        response = conn.image.import_image(image, **kwargs)
    except exceptions.BadRequestException as e:
        response = e.response
    if response is None:
        return None
    if response.status_code == 400:
        _REFUSED_AT_ONCE[image.id] = response
        return response
    exceptions.raise_from_response(response)
    return None


def glance_direct(conn, image, data):
    """Stages ``data`` and imports it; the image once the import ended, or
    as it is after the import request was refused at once."""
    return do_import(conn, None, None, data, "glance-direct", image=image)


def do_import(conn, files, properties, data, method, image=None):
    if image is None:
        image = new_image(conn, properties)
    if start_import(conn, files, image, data, method) is not None:
        return conn.image.get_image(image.id)
    return harness.wait_for_import(conn, image.id)


def assert_refused(glance, conn, image, *reasons, at_once=False):
    """Refused and retryable, with the guard's message naming ``reasons``.

    ``at_once``: the import request itself was answered 400 (the record
    alone refuses the image): no task, no lock, no store marked failed,
    the image as it was, ``queued``, or ``uploading`` with its staged data
    kept for the import the user makes once the properties are fixed.

    Otherwise Glance started the import and the plugin refused it: queued,
    store marked failed, no lock, no staged or stored data, the task
    failed with the guard's message."""
    refused_at_once = _REFUSED_AT_ONCE.pop(image.id, None)
    props = image.properties
    assert not props.get("os_glance_importing_to_stores")
    assert "os_glance_import_task" not in props
    assert not glance.stored(image.id), "data reached a store"
    if at_once:
        assert refused_at_once is not None, \
            "the import request was not refused at once"
        message = refused_at_once.text
        assert not harness.image_tasks(conn, image.id), "a task was made"
        assert "os_glance_failed_import" not in props
        if glance.staged(image.id):
            assert image.status == "uploading", image.status
        else:
            assert image.status == "queued", image.status
    else:
        assert refused_at_once is None, \
            "refused at once: %s" % refused_at_once.text
        assert image.status == "queued"
        assert props.get("os_glance_failed_import") == harness.STORE
        assert not glance.staged(image.id), "staged data left behind"
        task = harness.last_task(conn, image.id)
        assert task.status == "failure"
        message = task.message
    assert "Internal Error" not in message
    assert "Image %s was not imported" % image.id in message
    # Kept on the image for the clients that discard the 400 (openstack).
    kept = props.get("import_guard_refusal")
    assert kept and kept in message, kept
    for reason in reasons:
        assert reason in message
    return message


def assert_active(glance, image, data):
    assert image.status == "active", image
    assert image.size == len(data)
    assert image.hash_algo == "sha512"
    assert image.hash_value == hashlib.sha512(data).hexdigest()
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert "os_glance_import_task" not in image.properties
    assert "import_guard_refusal" not in image.properties
    assert not glance.staged(image.id)
    assert glance.stored(image.id)
