"""What the end-to-end tests of Glance's stores share (test_e2e_rbd,
test_e2e_s3, test_e2e_swift): a signer, the upload forms, the refusals
each door makes, and the audit run as operators run it."""

import json
import os
import pathlib
import subprocess
import sys

from support import harness, signing
from support.e2e import new_image
from support.signing import tampered

CLI = os.path.join(os.path.dirname(sys.executable), "glance-import-guard")

UNSIGNED = "this cloud imports only signed images"
TAMPERED = "the image data does not match img_hash_value"
ANOTHER_KEY = "img_signature does not match the image data"

#: What a refusal sends, and why the guard refuses it.
REASONS = {"unsigned": UNSIGNED, "tampered": TAMPERED,
           "another-key": ANOTHER_KEY, "unsigned-glance-direct": UNSIGNED,
           "tampered-glance-direct": TAMPERED}


class Signer:
    """An RSA-PSS key and its certificate, installed as ``name`` in a
    certificate directory (``folder``) for the guard's key manager."""

    def __init__(self, folder, name):
        self.key = signing.make_key("RSA-PSS")
        self.folder = folder
        self.name = name
        signing.install_certificate(folder, name,
                                    signing.make_certificate(self.key))

    def properties(self, data, **kwargs):
        """The signature properties (and declared digest) of ``data``."""
        return signing.signed_properties(self.key, self.name, data,
                                         **kwargs)


def upload(glance, image_id, body, store=None):
    """PUT .../file: bytes go with a Content-Length, a generator chunked;
    ``store``: the X-Image-Meta-Store header."""
    headers = {"Content-Type": "application/octet-stream"}
    if store:
        headers["X-Image-Meta-Store"] = store
    return glance.client().session.put(
        glance.url + "/v2/images/%s/file" % image_id, data=body,
        raise_exc=False, headers=headers)


def chunked(data):
    return (data[i:i + 65536] for i in range(0, len(data), 65536))


def refuse(glance, signer, data, what, snapshot, framing="content-length",
           store=None):
    """Makes the refusal ``what`` (a key of ``REASONS``) on a new image,
    its body sent with ``framing``, and checks the guard's answer; the
    image stays ``queued`` (an unsigned glance-direct, refused at once,
    stays ``uploading`` with its staged data). ``snapshot()`` is called
    just before the data is sent: what the store holds then. Returns
    (image, snapshot)."""
    conn = glance.client()
    props = {}
    if what in ("tampered", "tampered-glance-direct"):
        props = signer.properties(data)
    elif what == "another-key":
        props = signer.properties(data, declare=None)
        props["img_signature"] = signing.sign(signing.make_key("RSA-PSS"),
                                              data)
    image = new_image(conn, props)
    before = snapshot()
    if what == "unsigned-glance-direct":
        # The record alone refuses it: a 400 to the import request.
        conn.image.stage_image(image, data=data)
        response = conn.image.import_image(image, method="glance-direct")
        assert response.status_code == 400, response.text
        assert REASONS[what] in response.text
        after = conn.image.get_image(image.id)
        assert after.status == "uploading"
        assert glance.staged(image.id)
        return image, before
    if what == "tampered-glance-direct":
        # Refused by the import plugin, once it has read the data.
        conn.image.stage_image(image, data=tampered(data))
        conn.image.import_image(image, method="glance-direct")
        after = harness.wait_for_import(conn, image.id)
        task = harness.last_task(conn, image.id)
        assert task.status == "failure"
        assert REASONS[what] in task.message
        assert not glance.staged(image.id)
    else:
        sent = tampered(data) if what == "tampered" else data
        response = upload(glance, image.id, chunked(sent) if
                          framing == "chunked" else sent, store=store)
        assert response.status_code == 400, response.text
        assert REASONS[what] in response.text
        after = glance.client().image.get_image(image.id)
    assert after.status == "queued"
    return image, before


def config_args(folder):
    """The audit's --config-file for ``folder``'s glance-api.conf, and its
    --config-dir for glance-api.conf.d/, if there is one."""
    folder = pathlib.Path(folder)
    conf_d = folder / "glance-api.conf.d"
    return ["--config-file", str(folder / "glance-api.conf")] + (
        ["--config-dir", str(conf_d)] if conf_d.is_dir() else [])


def audit(glance, *image_ids, config_dir=None, args=()):
    """``glance-import-guard audit`` of ``image_ids`` with the server's
    configuration (or ``config_dir``'s), and ``args``: (the process,
    {image id: its JSON row})."""
    result = subprocess.run(
        [CLI, "audit", *config_args(config_dir or glance.workdir),
         "--format", "json-lines", *args,
         *[a for i in image_ids for a in ("--image", i)]],
        capture_output=True, text=True, timeout=300)
    assert result.returncode in (0, 1), result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return result, {r["image"]: r for r in rows}
