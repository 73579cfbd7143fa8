"""End to end on Glance's rbd store: a real one-node Ceph
(tests/support/ceph.py) under a real glance-api with the guard's import
plugin and paste filter. Every refusal leaves nothing in RBD (no image, no
snapshot, no trash entry, no RADOS object); accepted data is in RBD byte
for byte; ``glance-import-guard audit`` reads RBD through glance_store
and sees a snapshot tampered with, and a Nova direct snapshot that has no
hash.

These tests need Debian's Ceph packages (``make ceph-deps``). Without
them they fail: they are never skipped.
"""

import hashlib
import os
import time
import uuid

import pytest

from support import harness, stores
from support.e2e import new_image
from support.stores import audit, chunked, upload

USED = "used the digests recorded when image %s was staged"
# RADOS objects a pool keeps for all its images (rbd_directory,
# rbd_trash, rbd_children, rbd_info, ...). Each image's own objects are
# rbd_id.<name>, rbd_header.<id>, rbd_object_map.<id>[.<snap>] and
# rbd_data.<id>.<n> (librbd's naming, src/librbd/Utils.cc and
# src/include/rbd_types.h in Ceph).
POOL_WIDE = {"rbd_directory", "rbd_trash", "rbd_children", "rbd_info",
             "rbd_mirroring", "rbd_namespace", "rbd_task"}


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return stores.Signer(tmp_path_factory.mktemp("rbd-certs"), "rbd-signer")


def rbd_glance(folder, cluster, signer, **default):
    """glance-api whose only store is rbd (pool ``images``), with the
    guard's plugin and filter; a service token with the ``service`` role
    is exempt (as for Nova's snapshots)."""
    folder.mkdir(parents=True, exist_ok=True)
    return harness.GlanceServer(
        folder, certificate_dir=signer.folder, upload_filter=True,
        import_guard={"exempt_service_roles": ["service"]},
        extra_config={
            "DEFAULT": {"enabled_backends": "%s:rbd" % harness.STORE,
                        **default},
            harness.STORE: {
                "rbd_store_pool": "images",
                "rbd_store_ceph_conf": str(cluster.conf),
                "rbd_store_user": "admin",
                # 1 MiB objects: a test image spans several.
                "rbd_store_chunk_size": "1",
                "rados_connect_timeout": "30"},
            # The locations API takes a lock (glance/api/v2/images.py,
            # add_location, through oslo.concurrency).
            "oslo_concurrency": {"lock_path": str(folder / "locks")}})


@pytest.fixture(scope="module")
def glance(tmp_path_factory, cluster, signer):
    with rbd_glance(tmp_path_factory.mktemp("glance-rbd"), cluster,
                    signer) as server:
        yield server


@pytest.fixture(scope="module")
def glance_without_secure_hash(tmp_path_factory, cluster, signer):
    with rbd_glance(tmp_path_factory.mktemp("glance-rbd-nohash"), cluster,
                    signer, do_secure_hash="false") as server:
        yield server


@pytest.fixture
def data():
    return os.urandom(3 << 20) + b"rbd"


def leftovers(cluster, before, image_id):
    """What the pool holds now of ``image_id`` or that it did not hold
    ``before``: images, snapshots, trash entries, RADOS objects and
    rbd_directory keys. Empty means nothing was left."""
    after = cluster.contents()
    found = {}
    new_images = {name: snaps for name, snaps in after["images"].items()
                  if name not in before["images"] or name == image_id}
    if new_images:
        found["images"] = new_images
    trashed = {k: v for k, v in after["trash"].items()
               if k not in before["trash"] or v == image_id}
    if trashed:
        found["trash"] = trashed
    objects = after["objects"] - before["objects"] - POOL_WIDE
    objects |= {o for o in after["objects"] if image_id in o}
    if objects:
        found["objects"] = sorted(objects)
    keys = after["directory"] - before["directory"]
    keys |= {k for k in after["directory"] if image_id in k}
    if keys:
        found["directory"] = sorted(keys)
    return found


def assert_in_rbd(glance, cluster, image_id, data):
    """Active with the right digests, and RBD holds exactly ``data``
    where Glance's location points: the protected snapshot ``snap``."""
    image = glance.client().image.get_image(image_id)
    assert image.status == "active", image
    assert image.size == len(data)
    assert image.hash_algo == "sha512"
    assert image.hash_value == hashlib.sha512(data).hexdigest()
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert cluster.snapshots("images", image_id) == {"snap": True}
    assert cluster.export("images/%s@snap" % image_id) == data
    return image


# -- every refusal leaves nothing in RBD ------------------------------------

# door: (what is sent, its framing)
REFUSALS = {
    "unsigned-upload": ("unsigned", "content-length"),
    "tampered-chunked-upload": ("tampered", "chunked"),
    "tampered-content-length-upload": ("tampered", "content-length"),
    "upload-signed-by-another-key": ("another-key", "content-length"),
    "unsigned-glance-direct-import": ("unsigned-glance-direct", None),
    "tampered-glance-direct-import": ("tampered-glance-direct", None),
}


@pytest.mark.parametrize("door", sorted(REFUSALS))
def test_every_refusal_door_leaves_nothing_in_rbd(glance, cluster, signer,
                                                  data, door):
    what, framing = REFUSALS[door]
    mark = len(glance.log_path.read_text(errors="replace"))
    image, before = stores.refuse(glance, signer, data, what,
                                  cluster.contents, framing)
    if framing:
        # The rbd driver had made the image and written to it when the
        # body's read() raised; it deleted it (glance_store/_drivers/
        # rbd.py, Store.add, then _delete_image).
        log = glance.log_path.read_text(errors="replace")[mark:]
        assert "Failed to store image %s" % image.id in log
    assert leftovers(cluster, before, image.id) == {}


def test_the_leftover_listing_sees_what_a_store_could_leave(cluster):
    """The check above is not blind: an image, a snapshot, a trash entry
    are each found, with their RADOS objects and directory keys."""
    import rbd
    name = str(uuid.uuid4())
    before = cluster.contents()
    with cluster.client() as client, client.open_ioctx("images") as ioctx:
        rbd.RBD().create(ioctx, name, 4 << 20, old_format=False)
        with rbd.Image(ioctx, name) as image:
            image.write(b"x" * 4096, 0)
            image.create_snap("snap")
        found = leftovers(cluster, before, name)
        assert found["images"] == {name: {"snap": False}}
        assert any(o.startswith("rbd_data.") for o in found["objects"])
        assert "rbd_id.%s" % name in found["objects"]
        assert "name_%s" % name in found["directory"]
        rbd.RBD().trash_move(ioctx, name)
        found = leftovers(cluster, before, name)
        assert list(found["trash"].values()) == [name]
        assert "images" not in found
        trash_id = next(iter(found["trash"]))
        with rbd.Image(ioctx, image_id=trash_id) as image:
            image.remove_snap("snap")
        rbd.RBD().trash_remove(ioctx, trash_id)
    assert leftovers(cluster, before, name) == {}


# -- accepted data is in RBD, byte for byte ----------------------------------

@pytest.mark.parametrize("body", ["content-length", "chunked"])
def test_a_signed_upload_goes_active_and_rbd_holds_exactly_its_bytes(
        glance, cluster, signer, data, body):
    image = new_image(glance.client(), signer.properties(data))
    response = upload(glance, image.id,
                      data if body == "content-length" else chunked(data))
    assert response.status_code == 204, response.text
    assert_in_rbd(glance, cluster, image.id, data)


def test_a_signed_glance_direct_import_goes_active_and_rbd_holds_its_bytes(
        glance, cluster, signer, data):
    conn = glance.client()
    image = new_image(conn, signer.properties(data))
    conn.image.stage_image(image, data=data)
    conn.image.import_image(image, method="glance-direct")
    harness.wait_for_import(conn, image.id)
    assert_in_rbd(glance, cluster, image.id, data)
    assert not glance.staged(image.id)


def test_an_import_into_rbd_uses_the_digests_recorded_at_staging(
        glance, cluster, signer, data):
    conn = glance.client()
    image = new_image(conn, signer.properties(data))
    mark = len(glance.log_path.read_text(errors="replace"))
    conn.image.stage_image(image, data=data)
    record = glance.staging_dir / ".import-guard" / ("%s.json" % image.id)
    assert record.exists()
    conn.image.import_image(image, method="glance-direct")
    harness.wait_for_import(conn, image.id)
    assert_in_rbd(glance, cluster, image.id, data)
    log = glance.log_path.read_text(errors="replace")[mark:]
    assert USED % image.id in log
    assert not record.exists()


# -- the audit reads RBD ------------------------------------------------------

def rewrite_snapshot(cluster, image_id, offset, byte):
    """Makes ``images/<id>@snap`` hold other bytes, as someone with write
    access to the pool could. A snapshot is read-only, and writing to the
    image after it only changes the head (RADOS keeps the snapshot's
    objects as they were), so: unprotect and remove ``snap``, write to
    the head, snapshot and protect it again under the same name. Glance's
    location (rbd://<fsid>/images/<id>/snap) stays as it was."""
    import rbd
    with cluster.client() as client, client.open_ioctx("images") as ioctx:
        with rbd.Image(ioctx, image_id) as image:
            image.unprotect_snap("snap")
            image.remove_snap("snap")
            assert image.write(byte, offset) == len(byte)
            image.create_snap("snap")
            image.protect_snap("snap")


def test_the_audit_says_ok_for_a_signed_image_then_mismatch_once_rbd_changes(
        glance, cluster, signer, data):
    image = new_image(glance.client(), signer.properties(data))
    assert upload(glance, image.id, data).status_code == 204
    result, rows = audit(glance, image.id)
    assert result.returncode == 0, result.stderr
    row = rows[image.id]
    assert row["store"] == harness.STORE
    assert (row["verdict"], row["bytes"]) == ("ok", len(data)), row

    offset = 1 << 20  # in the second object
    flipped = bytes([data[offset] ^ 0xFF])
    rewrite_snapshot(cluster, image.id, offset, flipped)
    stored = cluster.export("images/%s@snap" % image.id)
    assert stored == data[:offset] + flipped + data[offset + 1:]

    result, rows = audit(glance, image.id)
    assert result.returncode == 1, result.stderr
    row = rows[image.id]
    assert row["verdict"] == "mismatch", row
    assert "signature-bad" in row["findings"]
    assert "not os_hash_value %s" % hashlib.sha512(data).hexdigest() in \
        " ".join(row["messages"])


def test_the_audit_reads_every_rbd_image_over_one_cluster_connection(
        glance, cluster, signer, tmp_path):
    """glance_store's own rbd reads connect to the cluster twice an image
    (Store.get's get_size, then its ImageIterator), after a connection to
    configure each Store it makes; the audit reads every image over one
    connection (audit_rbd.py), so the number of connections does not grow
    with the number of images. Each librados connection opens its own
    log file ($cctid tells them apart), so the files count them."""
    images = []
    for n in range(3):
        body = os.urandom(2 << 20) + bytes([n])
        image = new_image(glance.client(), signer.properties(body))
        assert upload(glance, image.id, body).status_code == 204
        images.append(image.id)
    ceph_conf = tmp_path / "ceph.conf"
    etc = tmp_path / "etc"
    (etc / "glance-api.conf.d").mkdir(parents=True)
    (etc / "glance-api.conf").write_text(
        (glance.workdir / "glance-api.conf").read_text())
    (etc / "glance-api.conf.d" / "ceph.conf").write_text(
        "[%s]\nrbd_store_ceph_conf = %s\n" % (harness.STORE, ceph_conf))

    def connections(*image_ids):
        logs = tmp_path / ("client-logs-%d" % len(image_ids))
        logs.mkdir()
        ceph_conf.write_text(cluster.conf.read_text() + (
            "\n[client]\nlog file = %s/$name.$pid.$cctid.log\n" % logs))
        result, rows = audit(glance, *image_ids, config_dir=etc,
                             args=["--parallel", "2"])
        assert result.returncode == 0, result.stderr
        assert {i: rows[i]["verdict"] for i in image_ids} == dict.fromkeys(
            image_ids, "ok"), rows
        return len(list(logs.iterdir()))

    one = connections(images[0])
    assert 1 <= one <= 3  # the stores made (configure), then the reading
    assert connections(*images) == one


def nova_direct_snapshot(cluster, base_image_id, snapshot_image_id):
    """What Nova's libvirt driver does on RBD (images_type = rbd), from
    boot to snapshot (nova/virt/libvirt/imagebackend.py, Rbd.clone and
    Rbd.direct_snapshot; nova/storage/rbd_utils.py): the instance's disk
    is a COW clone of Glance's ``images/<base>@snap`` in pool ``vms``;
    the guest writes to it; the snapshot is a protected snapshot of the
    disk, cloned into Glance's pool as ``images/<new id>``, flattened, the
    disk's snapshot removed, and ``snap`` made and protected on the new
    image. Returns the new image's location."""
    import rbd
    instance = str(uuid.uuid4())
    disk = "%s_disk" % instance
    disk_snap = uuid.uuid4().hex
    with cluster.client() as client, \
            client.open_ioctx("images") as images, \
            client.open_ioctx("vms") as vms:
        features = int(client.conf_get("rbd_default_features"))
        rbd.RBD().clone(images, base_image_id, "snap", vms, disk,
                        features=features)
        with rbd.Image(vms, disk) as image:
            image.write(b"written by the guest" * 100, 4096)
            image.create_snap(disk_snap)
            image.protect_snap(disk_snap)
        rbd.RBD().clone(vms, disk, disk_snap, images, snapshot_image_id,
                        features=features)
        with rbd.Image(images, snapshot_image_id) as image:
            image.flatten()
        with rbd.Image(vms, disk) as image:
            image.unprotect_snap(disk_snap)
            image.remove_snap(disk_snap)
        with rbd.Image(images, snapshot_image_id) as image:
            image.create_snap("snap")
            image.protect_snap("snap")
        fsid = client.get_fsid()
    return "rbd://%s/images/%s/snap" % (fsid, snapshot_image_id), instance


@pytest.mark.parametrize("do_secure_hash", [False, True])
def test_the_audit_says_no_hash_for_a_nova_direct_snapshot(
        request, glance, cluster, signer, data, do_secure_hash):
    """A Nova direct snapshot is registered as a location with a service
    token and no validation data. With do_secure_hash false Glance never
    hashes it: no-hash. With true (Glance's default) Glance makes the
    image active first and hashes what the clone holds in the background
    (glance/async_/flows/location_import.py): once that is done the audit
    finds a matching os_hash_value and, the snapshot having no
    img_signature* (Nova drops them), says unsigned."""
    server = glance if do_secure_hash else request.getfixturevalue(
        "glance_without_secure_hash")
    base = new_image(server.client(), signer.properties(data))
    assert upload(server, base.id, data).status_code == 204
    conn = server.client()
    snapshot = new_image(conn, {"image_type": "snapshot",
                                "base_image_ref": base.id})
    url, instance = nova_direct_snapshot(cluster, base.id, snapshot.id)
    nova = server.client(service_roles=("service",))
    response = nova.session.post(
        server.url + "/v2/images/%s/locations" % snapshot.id,
        json={"url": url, "validation_data": {}},
        headers={"OpenStack-API-Version": "image 2.17"}, raise_exc=False)
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 60
    while True:
        image = conn.image.get_image(snapshot.id)
        props = image.properties or {}
        if image.status == "active" and "os_glance_import_task" not in \
                props and (image.hash_value or not do_secure_hash):
            break
        assert time.monotonic() < deadline, image
        time.sleep(0.2)
    assert cluster.snapshots("images", snapshot.id) == {"snap": True}
    stored = cluster.export("images/%s@snap" % snapshot.id)
    assert stored != data and len(stored) == len(data)
    assert image.size == len(stored)  # Glance asked the store
    assert "%s_disk" % instance in cluster.images("vms")

    result, rows = audit(server, snapshot.id)
    assert result.returncode == 0, result.stderr
    row = rows[snapshot.id]
    if do_secure_hash:
        assert image.hash_value == hashlib.sha512(stored).hexdigest()
        assert row["verdict"] == "unsigned", row
        assert row["findings"] == ["unsigned"], row
    else:
        assert image.hash_value is None
        assert row["verdict"] == "no-hash", row
        assert "unsigned" in row["findings"]
