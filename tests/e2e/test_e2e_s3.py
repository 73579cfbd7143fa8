"""End to end on Glance's s3 store: a real one-node Ceph
(tests/support/ceph.py) with a RADOS Gateway (tests/support/rgw.py) under
a real glance-api with the guard's import plugin and paste filter, on two
s3 stores (``store1``, the default, and ``store2``, in buckets of their
own). Every refusal leaves nothing in S3: no object and no incomplete
multipart upload (ListObjects does not show those; ListMultipartUploads
does); accepted data is in the bucket byte for byte;
``glance-import-guard audit`` reads S3 through glance_store and sees an
object overwritten.

NOTE: glance_store's s3 driver stores a body whose size is known (a
Content-Length) at or above ``s3_store_large_object_size`` (16 MiB here)
as a multipart upload started before its first read, in parts of
``s3_store_large_object_chunk_size`` (5 MiB), and does not abort it when
the read raises (glance_store/_drivers/s3.py, ``_add_multipart``): the
guard aborts it (``glance_import_guard.doors.s3.abort_leftovers``, called
from ``doors.checks._data`` on a refused upload). A chunked body (no
size) takes the single-part path, which writes nothing before the end.

These tests need Debian's Ceph packages with radosgw (``make
ceph-deps``) and boto3. Without them they fail: they are never skipped.
"""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from support import harness, rgw, stores
from support.e2e import new_image
from support.signing import tampered
from support.stores import audit, chunked, upload

BUCKETS = {harness.STORE: "glance-images", "store2": "glance-images-2"}
MIB = 1 << 20
LARGE = 16  # s3_store_large_object_size, MiB
PART = 5  # s3_store_large_object_chunk_size, MiB (the driver's minimum)


@pytest.fixture(scope="module")
def gateway(cluster):
    with rgw.RadosGateway(cluster) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def signer(tmp_path_factory):
    return stores.Signer(tmp_path_factory.mktemp("s3-certs"), "s3-signer")


def s3_store(gateway, bucket):
    return {
        "s3_store_host": gateway.endpoint,
        "s3_store_access_key": gateway.access_key,
        "s3_store_secret_key": gateway.secret_key,
        "s3_store_bucket": bucket,
        "s3_store_bucket_url_format": "path",
        "s3_store_create_bucket_on_put": "true",
        "s3_store_large_object_size": str(LARGE),
        "s3_store_large_object_chunk_size": str(PART),
        "s3_store_thread_pools": "4",
    }


@pytest.fixture(scope="module")
def glance(tmp_path_factory, gateway, signer):
    """glance-api whose stores are s3 stores on the gateway (``store1``
    the default, ``store2``; ``refused`` has a wrong secret key), with the
    guard's plugin and filter."""
    folder = tmp_path_factory.mktemp("glance-s3")
    with harness.GlanceServer(
            folder, certificate_dir=signer.folder, upload_filter=True,
            extra_config={
                "DEFAULT": {"enabled_backends": "%s:s3, store2:s3, refused:s3"
                            % harness.STORE},
                harness.STORE: s3_store(gateway, BUCKETS[harness.STORE]),
                "store2": s3_store(gateway, BUCKETS["store2"]),
                # S3 refuses its keys: for the clean-up's errors.
                "refused": dict(s3_store(gateway, BUCKETS[harness.STORE]),
                                s3_store_secret_key="not-the-key"),
            }) as server:
        yield server


@pytest.fixture(scope="module")
def data():
    return os.urandom(20 * MIB) + b"s3"


def everything(gateway):
    """What every store's bucket holds: {bucket: contents}."""
    return {b: gateway.contents(b) for b in BUCKETS.values()}


def leftovers(gateway, before, image_id):
    """Objects and incomplete multipart uploads (with their parts' sizes)
    in the stores' buckets that are ``image_id``'s or were not there
    ``before``. Empty means nothing was left."""
    found = {}
    for bucket, now in everything(gateway).items():
        was = before[bucket]
        objects = {k: v for k, v in now["objects"].items()
                   if k not in was["objects"] or k == image_id}
        uploads = {"%s %s" % k: v for k, v in now["uploads"].items()
                   if k not in was["uploads"] or k[0] == image_id}
        if objects:
            found.setdefault(bucket, {})["objects"] = objects
        if uploads:
            found.setdefault(bucket, {})["uploads"] = uploads
    return found


def assert_in_s3(glance, gateway, image_id, data, store=harness.STORE):
    """Active with the right digests, the object in the store's bucket
    holds exactly ``data``, and no upload of it is left incomplete."""
    image = glance.client().image.get_image(image_id)
    assert image.status == "active", image
    assert image.size == len(data)
    assert image.hash_algo == "sha512"
    assert image.hash_value == hashlib.sha512(data).hexdigest()
    assert image.checksum == hashlib.md5(data).hexdigest()
    shown = glance.client().session.get(
        glance.url + "/v2/images/%s" % image_id).json()
    assert shown["stores"] == store
    s3 = gateway.client()
    stored = s3.get_object(Bucket=BUCKETS[store], Key=image_id)
    assert stored["Body"].read() == data
    assert not [k for k in gateway.contents(BUCKETS[store])["uploads"]
                if k[0] == image_id]
    return image


# -- every refusal leaves nothing in S3 ---------------------------------------

# door: (what is sent, its framing, X-Image-Meta-Store)
REFUSALS = {
    "unsigned-content-length-upload": ("unsigned", "content-length", None),
    "tampered-content-length-upload": ("tampered", "content-length", None),
    "tampered-chunked-upload": ("tampered", "chunked", None),
    "upload-signed-by-another-key":
        ("another-key", "content-length", None),
    "tampered-content-length-upload-to-store2":
        ("tampered", "content-length", "store2"),
    "unsigned-content-length-upload-to-store2":
        ("unsigned", "content-length", "store2"),
    "unsigned-glance-direct-import": ("unsigned-glance-direct", None, None),
    "tampered-glance-direct-import": ("tampered-glance-direct", None, None),
}


@pytest.mark.parametrize("door", sorted(REFUSALS))
def test_every_refusal_door_leaves_no_object_and_no_incomplete_upload_in_s3(
        glance, gateway, signer, data, door):
    what, framing, store = REFUSALS[door]
    image, before = stores.refuse(glance, signer, data, what,
                                  lambda: everything(gateway), framing,
                                  store)
    assert leftovers(gateway, before, image.id) == {}


def test_a_signed_upload_after_a_refused_one_goes_active_and_leaves_no_upload(
        glance, gateway, signer, data):
    image = new_image(glance.client(), signer.properties(data))
    before = everything(gateway)
    response = upload(glance, image.id, tampered(data))
    assert response.status_code == 400, response.text
    assert leftovers(gateway, before, image.id) == {}
    assert upload(glance, image.id, data).status_code == 204
    assert_in_s3(glance, gateway, image.id, data)
    assert set(leftovers(gateway, before, image.id)) == {
        BUCKETS[harness.STORE]}
    assert leftovers(gateway, before, image.id)[BUCKETS[harness.STORE]] == {
        "objects": {image.id: len(data)}}


def test_the_leftover_listing_sees_an_incomplete_multipart_upload(gateway):
    """The check above is not blind: an upload that ListObjects does not
    show is found, with its parts."""
    s3 = gateway.client()
    bucket = BUCKETS[harness.STORE]
    key = "leftover-listing-check"
    before = everything(gateway)
    mpu = s3.create_multipart_upload(Bucket=bucket, Key=key)
    try:
        s3.upload_part(Bucket=bucket, Key=key, PartNumber=1,
                       UploadId=mpu["UploadId"], Body=b"x" * 1000)
        assert s3.list_objects_v2(Bucket=bucket,
                                  Prefix=key).get("KeyCount") == 0
        assert leftovers(gateway, before, key) == {bucket: {"uploads": {
            "%s %s" % (key, mpu["UploadId"]): [1000]}}}
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key=key,
                                  UploadId=mpu["UploadId"])
    assert leftovers(gateway, before, key) == {}


# -- the clean-up itself, through Glance's own store configuration ------------

ABORT = """\
import json, sys
from glance_import_guard import audit
from glance_import_guard.doors import s3
audit.load(["--config-file", sys.argv[1] + "/glance-api.conf"])
calls = json.loads(sys.argv[2])
print(json.dumps([s3.abort_leftovers(i, store) for i, store in calls]))
"""


def abort_leftovers(glance, *calls):
    """``doors.s3.abort_leftovers(image_id, store)`` for each (image_id,
    store) of ``calls``, in order, in one process configured as glance-api
    (its glance-api.conf, its stores): the upload ids each aborted, and
    the process's log."""
    result = subprocess.run(
        [sys.executable, "-c", ABORT, str(glance.workdir),
         json.dumps(calls)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1]), result.stderr


def test_the_clean_up_aborts_only_the_image_s_uploads_in_its_store_s_bucket(
        glance, gateway):
    """Through the target store's own driver (its bucket, its client):
    every incomplete upload of exactly the image's key, none of another
    key, none in another store's bucket; a store that is not s3 (or not
    configured) is left alone, and a store S3 refuses (wrong keys) is
    logged, not raised."""
    s3 = gateway.client()
    image_id = "6f1b2d0e-1c3a-4f4e-9a55-0c2f4c1d7a11"
    other = "0d0c7d54-7a2b-4c8e-b6a1-5b8f4d3e2c10"
    bucket, bucket2 = BUCKETS[harness.STORE], BUCKETS["store2"]
    for b in (bucket, bucket2):
        if b not in {x["Name"] for x in s3.list_buckets()["Buckets"]}:
            s3.create_bucket(Bucket=b)
    started = {}
    for b, key in ((bucket, image_id), (bucket, image_id),
                   (bucket, image_id + "-not-it"), (bucket, other),
                   (bucket2, image_id), (bucket2, other)):
        mpu = s3.create_multipart_upload(Bucket=b, Key=key)
        s3.upload_part(Bucket=b, Key=key, PartNumber=1,
                       UploadId=mpu["UploadId"], Body=b"x" * 100)
        started.setdefault((b, key), []).append(mpu["UploadId"])
    try:
        aborted, log = abort_leftovers(
            glance, (image_id, None), (image_id, "store2"),
            (image_id, "store2"), (other, "no-such-store"),
            (other, "os_glance_staging_store"), (other, "refused"))
        assert sorted(aborted[0]) == sorted(started[(bucket, image_id)])
        assert aborted[1] == started[(bucket2, image_id)]
        assert aborted[2:] == [[], [], [], []]
        assert "could not clean up the s3 store refused" in log
        left = {(b, k) for b in (bucket, bucket2)
                for k, _ in gateway.contents(b)["uploads"]}
        assert left == {(bucket, image_id + "-not-it"), (bucket, other),
                        (bucket2, other)}
    finally:
        for (b, key), ids in started.items():
            for upload_id in ids:
                try:
                    s3.abort_multipart_upload(Bucket=b, Key=key,
                                              UploadId=upload_id)
                except s3.exceptions.NoSuchUpload:
                    pass


# -- accepted data is in S3, byte for byte ------------------------------------

@pytest.mark.parametrize("body", ["content-length", "chunked"])
def test_a_signed_upload_goes_active_and_s3_holds_exactly_its_bytes(
        glance, gateway, signer, data, body):
    image = new_image(glance.client(), signer.properties(data))
    response = upload(glance, image.id,
                      data if body == "content-length" else chunked(data))
    assert response.status_code == 204, response.text
    assert_in_s3(glance, gateway, image.id, data)


def test_a_signed_upload_to_store2_goes_active_in_store2_s_bucket(
        glance, gateway, signer, data):
    image = new_image(glance.client(), signer.properties(data))
    response = upload(glance, image.id, data, store="store2")
    assert response.status_code == 204, response.text
    assert_in_s3(glance, gateway, image.id, data, store="store2")


def test_a_signed_glance_direct_import_goes_active_and_s3_holds_its_bytes(
        glance, gateway, signer, data):
    conn = glance.client()
    image = new_image(conn, signer.properties(data))
    conn.image.stage_image(image, data=data)
    conn.image.import_image(image, method="glance-direct")
    harness.wait_for_import(conn, image.id)
    assert_in_s3(glance, gateway, image.id, data)
    assert not glance.staged(image.id)


# -- the audit reads S3 -------------------------------------------------------

def test_the_audit_says_ok_for_a_signed_image_then_mismatch_once_s3_changes(
        glance, gateway, signer, data):
    image = new_image(glance.client(), signer.properties(data))
    assert upload(glance, image.id, data).status_code == 204
    result, rows = audit(glance, image.id)
    assert result.returncode == 0, result.stderr
    row = rows[image.id]
    assert row["store"] == harness.STORE
    assert (row["verdict"], row["bytes"]) == ("ok", len(data)), row

    # Someone with the bucket's keys overwrites the object; Glance's
    # location (s3://.../glance-images/<id>) stays as it was.
    offset = 7 * MIB
    changed = data[:offset] + bytes([data[offset] ^ 0xFF]) + \
        data[offset + 1:]
    gateway.client().put_object(Bucket=BUCKETS[harness.STORE],
                                Key=image.id, Body=changed)

    result, rows = audit(glance, image.id)
    assert result.returncode == 1, result.stderr
    row = rows[image.id]
    assert row["verdict"] == "mismatch", row
    assert "signature-bad" in row["findings"]
    assert "not os_hash_value %s" % hashlib.sha512(data).hexdigest() in \
        " ".join(row["messages"])
