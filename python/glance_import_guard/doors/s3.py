"""What a refused upload leaves in an s3 store: an incomplete multipart
upload, aborted here.

NOTE: glance_store's s3 driver (glance_store/_drivers/s3.py, ``Store.add``
and ``_add_multipart``) stores an image whose size is known (a
Content-Length) at or above ``s3_store_large_object_size`` as a multipart
upload of the object named by the image id in ``s3_store_bucket``: it
starts the upload (``create_multipart_upload``) before the first read of
the body, sends each part as it has read it, and aborts the upload only on
its own size checks and failed parts. When the body's ``read()`` raises,
as the guard's refusal does, the exception leaves ``_add_multipart``
(after its thread pool has sent the parts already read) without an abort:
the upload stays, with its parts, invisible in ListObjects, holding
storage until it is aborted or a bucket lifecycle rule expires it. Glance
then deletes nothing (there is no object). ``abort_leftovers`` aborts
every incomplete multipart upload of the image's key in the bucket of the
upload's target store, through the store's own driver object: its boto3
client (``_create_s3_client``: host, keys, addressing style, region,
CA bundle, checksum settings as Glance configured them) and its bucket.

Called once Glance's controller has returned from an upload the guard
refused: the image is ``queued`` again and nothing of Glance's is writing
to its key. Errors are logged and swallowed: the refusal must reach the
user whatever happens here.
"""

from oslo_config import cfg
from oslo_log import log as logging

from glance_import_guard import decision

LOG = logging.getLogger(__name__)
CONF = cfg.CONF

#: the header naming an upload's target store (glance/api/v2/image_data.py,
#: ImageDataController.upload); without it, [glance_store] default_backend.
STORE_HEADER = "x-image-meta-store"


def target_store(request, conf=None):
    """The store identifier an upload of ``request`` goes to, as Glance's
    controller picks it; None without multiple stores (``enabled_backends``
    unset: the legacy ``[glance_store] default_store``). Never raises."""
    conf = conf or CONF
    try:
        if not conf.enabled_backends:
            return None
        return request.headers.get(STORE_HEADER,
                                   conf.glance_store.default_backend)
    except Exception:
        LOG.exception("import_guard could not tell the target store of an "
                      "upload; taking the default")
        return None


def _store(store_id, conf):
    """The configured glance_store driver object of ``store_id`` (None:
    the legacy single-store default), or None if it is not an s3 store."""
    import glance_store
    from glance_store._drivers import s3 as s3_driver
    if conf.enabled_backends:
        store_id = store_id or conf.glance_store.default_backend
        if conf.enabled_backends.get(store_id) != "s3":
            return None
        store = glance_store.get_store_from_store_identifier(store_id)
    else:
        scheme = getattr(conf.glance_store, "default_store", None)
        if scheme not in s3_driver.Store.get_schemes():
            return None
        store = glance_store.get_store_from_scheme(scheme)
    return store if isinstance(store, s3_driver.Store) else None


def abort_leftovers(image_id, store_id=None, conf=None):
    """Aborts the incomplete multipart uploads of ``image_id``'s object in
    the bucket of ``store_id`` (None: the default store) when that store
    is an s3 store; any other store is left alone. Only uploads whose key
    is exactly the image id are touched. Returns the ids of the uploads
    aborted; never raises (errors are logged)."""
    conf = conf or CONF
    aborted = []
    try:
        store = _store(store_id, conf)
        if store is None:
            return aborted
        key = str(image_id)
        bucket = store.bucket
        client = store._create_s3_client()
        uploads = []
        paginator = client.get_paginator("list_multipart_uploads")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=key):
                uploads += [u["UploadId"] for u in page.get("Uploads", [])
                            if u.get("Key") == key]
        except client.exceptions.NoSuchBucket:
            return aborted
        for upload_id in uploads:
            try:
                client.abort_multipart_upload(Bucket=bucket, Key=key,
                                              UploadId=upload_id)
            except client.exceptions.NoSuchUpload:
                continue  # aborted or completed meanwhile
            except Exception:
                LOG.exception(
                    "import_guard could not abort the incomplete multipart "
                    "upload %(upload)s of image %(image)s in bucket "
                    "%(bucket)s of store %(store)s",
                    {"upload": upload_id, "image": decision.shown(image_id),
                     "bucket": bucket, "store": store_id or "(default)"})
                continue
            aborted.append(upload_id)
        if aborted:
            LOG.info("import_guard aborted %(n)d incomplete multipart "
                     "upload(s) of refused image %(image)s in bucket "
                     "%(bucket)s of store %(store)s: %(uploads)s",
                     {"n": len(aborted), "image": decision.shown(image_id),
                      "bucket": bucket, "store": store_id or "(default)",
                      "uploads": ", ".join(aborted)})
    except Exception:
        LOG.exception("import_guard could not clean up the s3 store %(store)s"
                      " after refusing the upload of image %(image)s; "
                      "incomplete multipart uploads of it may be left",
                      {"store": store_id or "(default)",
                       "image": decision.shown(image_id)})
    return aborted
