"""The guard at work in a real Glance: `make demo`.

Starts glance-api (gunicorn, SQLite, a file store, no Keystone) with
import_guard enabled and the certificate_directory key manager, signs with
the openssl CLI as the Glance docs show users, imports five images with
openstacksdk (and uploads three with PUT /file, through the guard's
paste filter), prints what happened to each, and stops the server.
"""

import base64
import hashlib
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
                    conn.image.import_image(image, method=method)
                else:
                    conn.image.import_image(image, method=method,
                                            uri=files.publish(data))
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
    expected = ["queued", "queued", "queued", "active", "queued", "active",
                "queued", "queued", "active"]
    return 0 if [r[2] for r in rows] == expected else 1


UPLOAD = "upload (PUT /file)"


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
        text = response.text.split("\n\n", 1)[-1].strip()
        message = "(HTTP %d) %s" % (response.status_code, text)
    return (case, UPLOAD, image.status, message)


def print_table(rows):
    """case | method | status, and under each row the task's message."""
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
