"""Digests recorded while an image is staged, so that its glance-direct
import need not read the staged file again.

The upload filter hashes the body of ``PUT /v2/images/{id}/stage`` as
Glance writes it to the staging store. Once Glance has answered the stage
with success, the core seals the digests with the staged file's identity
(device, inode, size, mtime and ctime in ns) and the image id under a key
that only glance-api can read (``_core.seal_record``). The record lives
beside the staged file, in ``<staging dir>/.import-guard/<image id>.json``;
the key is ``<staging dir>/.import-guard/key``, made once per staging
directory, mode 0600.

The import plugin uses a record instead of reading the file only when the
seal verifies, it is for this image, the file's identity is exactly the
recorded one and every digest the import needs is in it
(``Guard.check_record``). Otherwise it reads the file, as it would without
a record, and says why at INFO. A record is used once and then removed.

NOTE: Glance stages to ``<staging dir>/<image id>``, where the staging dir
is ``[os_glance_staging_store] filesystem_store_datadir`` with
``enabled_backends``, or ``node_staging_uri`` without
(glance/api/v2/image_data.py, stage); its staging cleaner skips names
that are not image ids (glance/housekeeping.py), such as ``.import-guard``.
"""

import os
import uuid

from oslo_config import cfg
from oslo_log import log as logging

from glance_import_guard import _core

LOG = logging.getLogger(__name__)

RECORDS = ".import-guard"
KEY_BYTES = 32


def staged_path(image_id, conf=cfg.CONF):
    """Where Glance stages ``image_id``'s data, or None when the staging
    store is not a local directory."""
    if conf.enabled_backends:
        folder = conf.os_glance_staging_store.filesystem_store_datadir
    else:
        uri = conf.node_staging_uri or ""
        folder = uri[len("file://"):] if uri.startswith("file://") else None
    return os.path.join(folder, str(image_id)) if folder else None


def _paths(path):
    folder, name = os.path.split(path)
    records = os.path.join(folder, RECORDS)
    return records, os.path.join(records, name + ".json")


def _key(records):
    """The staging directory's record key, made on first use. Workers that
    race to make it agree on one: ``link()`` publishes it atomically and
    fails for every worker but the first."""
    path = os.path.join(records, "key")
    try:
        with open(path, "rb") as f:
            key = f.read()
        if len(key) == KEY_BYTES:
            return key
    except FileNotFoundError:
        pass
    os.makedirs(records, mode=0o700, exist_ok=True)
    fresh = "%s.%s" % (path, uuid.uuid4().hex)
    fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(KEY_BYTES))
        try:
            os.link(fresh, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(fresh)
    with open(path, "rb") as f:
        return f.read()


def record(path, image_id, result):
    """Records ``result`` (a finished stream's ``bytes`` and ``digests``)
    for the file staged at ``path``. Never raises: a record that cannot be
    made only means the import reads the file."""
    try:
        records, target = _paths(path)
        key = _key(records)
        text = _core.seal_record(key, image_id, path, result["digests"],
                                 result["bytes"])
        fresh = "%s.%s" % (target, uuid.uuid4().hex)
        with open(fresh, "w") as f:
            f.write(text)
        os.replace(fresh, target)
    except Exception as e:
        LOG.warning("import_guard did not record the digests of the data "
                    "staged for image %s (its import will read it): %s",
                    image_id, e)
        return False
    LOG.debug("import_guard recorded the digests of the %d bytes staged "
              "for image %s", result["bytes"], image_id)
    sweep(path)
    return True


def sweep(path):
    """Removes the records, beside the one of ``path``, whose staged file
    is gone: Glance removed it (an import that ended, an image deleted)
    where the guard could not see it, e.g. a worker that was stopped.
    Without its file a record is never used. Never raises."""
    records, _ = _paths(path)
    folder = os.path.dirname(records)
    try:
        names = os.listdir(records)
    except OSError:
        return
    for name in names:
        staged = os.path.join(folder, name[:-len(".json")])
        if name.endswith(".json") and not os.path.exists(staged):
            forget(staged)


def forget(path):
    """Removes the record of the file staged at ``path``, if any."""
    try:
        os.remove(_paths(path)[1])
    except FileNotFoundError:
        pass
    except OSError as e:
        LOG.warning("import_guard could not remove the staging record of "
                    "%s: %s", path, e)


def recorded(guard, path, image_id, plan):
    """The verdict ``guard.check_file`` would give for the file staged at
    ``path``, from its record, or None (no usable record: read the file).
    The record is removed either way."""
    records, target = _paths(path)
    try:
        with open(target) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        LOG.info("import_guard reads the staged data of image %s: its "
                 "staging record cannot be read: %s", image_id, e)
        return None
    try:
        with open(os.path.join(records, "key"), "rb") as f:
            key = f.read()
        result = guard.check_record(text, key, image_id, path, plan)
    except Exception as e:
        LOG.info("import_guard reads the staged data of image %s: its "
                 "staging record cannot be used: %s", image_id, e)
        return None
    finally:
        forget(path)
    if "stale" in result:
        LOG.info("import_guard reads the staged data of image %s: its "
                 "staging record cannot be used: %s", image_id,
                 result["stale"])
        return None
    LOG.info("import_guard used the digests recorded when image %s was "
             "staged (%d bytes), without reading the staged file again",
             image_id, result["bytes"])
    return result
