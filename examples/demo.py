"""The guard at work in a real Glance: `make demo`.

Starts glance-api (gunicorn, SQLite, a file store, no Keystone) with
import_guard enabled and the certificate_directory key manager, signs with
the openssl CLI as the Glance docs show users, imports six images with
openstacksdk (and uploads three with PUT /file, through the guard's
paste filter), prints what happened to each, and stops the server. An
import the image's record alone refuses (unsigned, a signature property
missing) is answered 400 at once, with no task; the others are refused or
accepted by the import task, which reads the bytes.
"""

import base64
import hashlib
import html
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap
import uuid

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the support package

from support import harness  # noqa: E402

WORKDIR = HERE.parent / ".demo"


def sh(*args, **kwargs):
    print("  $ " + " ".join(str(a) for a in args))
    return subprocess.run([str(a) for a in args], check=True,
                          capture_output=True, **kwargs).stdout


def make_signer(workdir, cert_dir):
    """A user's key and certificate, made with openssl as in the Glance
    docs; the operator puts the certificate in the certificate directory."""
    key, cert = workdir / "signing_key.pem", workdir / "signing_cert.pem"
    sh("openssl", "genrsa", "-out", key, "3072")
    sh("openssl", "req", "-new", "-x509", "-key", key, "-out", cert,
       "-days", "365", "-subj", "/CN=demo image signer")
    cert_id = str(uuid.uuid4())
    shutil.copy(cert, cert_dir / ("%s.pem" % cert_id))
    print("  (certificate installed as %s/%s.pem)" % (cert_dir, cert_id))
    return key, cert_id


def sign(key, image_file):
    signature = sh("openssl", "dgst", "-sha256", "-sign", key, "-sigopt",
                   "rsa_padding_mode:pss", image_file)
    return base64.b64encode(signature).decode()


def main():
    shutil.rmtree(WORKDIR, ignore_errors=True)
    cert_dir = WORKDIR / "certificates"
    cert_dir.mkdir(parents=True)
    print("Making a signing key and certificate:")
    key, cert_id = make_signer(WORKDIR, cert_dir)

    image_file = WORKDIR / "cirros-like.img"
    data = os.urandom(4 << 20)
    image_file.write_bytes(data)
    print("Signing %s (%d bytes):" % (image_file.name, len(data)))
    signed = {
        "img_signature": sign(key, image_file),
        "img_signature_hash_method": "SHA-256",
        "img_signature_key_type": "RSA-PSS",
        "img_signature_certificate_uuid": cert_id,
        "img_hash_algo": "sha512",
        "img_hash_value": hashlib.sha512(data).hexdigest(),
    }
    one_missing = {k: v for k, v in signed.items()
                   if k != "img_signature_certificate_uuid"}
    wrong_digest = dict(signed, img_hash_value=hashlib.sha512(
        data + b"tampered").hexdigest())
    story = [
        ("unsigned image", "glance-direct", {}),
        ("one signature property missing", "glance-direct", one_missing),
        ("signed, bytes do not match the declared digest", "glance-direct",
         wrong_digest),
        ("signed, right digest", "glance-direct", signed),
        ("unsigned image", "web-download", {}),
        ("signed, right digest", "web-download", signed),
        ("unsigned image", UPLOAD, {}),
        ("signed, bytes do not match the declared digest", UPLOAD,
         wrong_digest),
        ("signed, right digest", UPLOAD, signed),
    ]

    rows = []
    with harness.FileServer(WORKDIR / "http") as files:
        server = harness.GlanceServer(
            WORKDIR / "glance", certificate_dir=cert_dir,
            web_download_ports=[files.port], upload_filter=True)
        print("Starting glance-api with import_guard enabled (the import "
              "plugin, and the filter in its paste pipeline)...")
        with server:
            print("  glance-api is at %s" % server.url)
            conn = server.client()
            for case, method, props in story:
                # A name of its own: openstacksdk's create_image reuses an
                # image that has the same name.
                image = conn.image.create_image(
                    name="%s [%s]" % (case, method), disk_format="raw",
                    container_format="bare", **props)
                if method == UPLOAD:
                    rows.append(upload(server, case, image, data))
                    continue
                if method == "glance-direct":
                    conn.image.stage_image(image, data=data)
                    response = start_import(conn, image, method=method)
                else:
                    response = start_import(conn, image, method=method,
                                            uri=files.publish(data))
                if response.status_code != 202:
                    # Refused at once, no task: the image as it was,
                    # uploading (its staged data kept) or queued.
                    image = conn.image.get_image(image.id)
                    rows.append((case, method, image.status,
                                 http_message(response)))
                    continue
                image = harness.wait_for_import(conn, image.id)
                task = harness.last_task(conn, image.id)
                message = task.message if task.status == "failure" else (
                    "(task %s) os_hash_value %s..." % (
                        task.status, image.hash_value[:16]))
                rows.append((case, method, image.status, message))
        print("Stopped glance-api.\n")

    print_table(rows)
    print("\nglance-api log: %s" % server.log_path)
    print("Refusals are logged there at WARNING by glance_import_guard.")
    # Refused at once, the record alone: unsigned, a signature property
    # missing (staged data kept: uploading), unsigned by web-download
    # (queued). Refused by the task, which reads the bytes: the wrong
    # digest (queued). Refused by the filter: the uploads (queued).
    expected = ["uploading", "uploading", "queued", "active", "queued",
                "active", "queued", "queued", "active"]
    return 0 if [r[2] for r in rows] == expected else 1


UPLOAD = "upload (PUT /file)"


def start_import(conn, image, **kwargs):
    """POST /v2/images/{id}/import; the answer: 202 when Glance started
    the import's task, 400 when the guard refused it at once (the image's
    record alone refuses it). openstacksdk returns the answer without
    raising."""
    from openstack import exceptions
    try:
        return conn.image.import_image(image, **kwargs)
    except exceptions.HttpException as e:  # should it ever raise
        if e.response is None:
            raise
        return e.response


def http_message(response):
    """The answer as "(HTTP 400) <the guard's message>", from Glance's
    HTML error page (or a plain-text one), as the user reads it."""
    text = html.unescape(response.text)
    if "</h1>" in text:
        text = text.split("</h1>", 1)[-1].split("<br", 1)[0]
    else:
        text = text.split("\n\n", 1)[-1]
    return "(HTTP %d) %s" % (response.status_code, " ".join(text.split()))


def upload(server, case, image, data):
    """What `openstack image create --file` does: PUT the data."""
    response = server.client().session.put(
        server.url + "/v2/images/%s/file" % image.id, data=data,
        raise_exc=False, headers={"Content-Type": "application/octet-stream",
                                  "Accept": "text/plain"})
    # A new connection: a refused upload's connection is closed.
    image = server.client().image.get_image(image.id)
    if response.status_code == 204:
        message = "(HTTP 204) os_hash_value %s..." % image.hash_value[:16]
    else:
        message = http_message(response)
    return (case, UPLOAD, image.status, message)


def print_table(rows):
    """case | door | status, and under each row the message the user got."""
    headers = ("case", "door", "final status")
    widths = [max(len(h), *(len(r[i]) for r in rows))
              for i, h in enumerate(headers)]
    rule = "-" * (sum(widths) + 3 * (len(widths) - 1))

    def line(cells):
        return " | ".join(c.ljust(w) for c, w in zip(cells, widths,
                                                      strict=True))

    print(line(headers))
    print(rule)
    for case, method, status, message in rows:
        print(line((case, method, status)))
        print(textwrap.fill(message, len(rule), initial_indent="    ",
                            subsequent_indent="    "))
        print(rule)


if __name__ == "__main__":
    sys.exit(main())
