"""The guard in a real small OpenStack: `make demo-openstack`.

The same story as `make demo`, on what clouds run: Keystone (users sign in
with a password), the signing certificate in Barbican (its secret's UUID in
img_signature_certificate_uuid), and two regions, each with a glance-api
serving Glance's stock `keystone` pipeline with the guard as import plugin
and paste filter. It starts PostgreSQL, Keystone, Barbican and both
glance-api on 127.0.0.1 (tests/support/openstack.py, what the tests use),
prints what happened to each image, and stops them all.
"""

import html
import os
import shutil
import sys

from demo import WORKDIR, print_table, sh, sign, start_import

from support import harness, openstack  # demo put tests/ on sys.path

ONE, TWO = "RegionOne", "RegionTwo"
FOLDER = WORKDIR.parent / ".demo-openstack"


def main():
    shutil.rmtree(FOLDER, ignore_errors=True)
    FOLDER.mkdir(parents=True)
    print("alice makes a signing key and certificate with openssl:")
    key, cert = FOLDER / "signing_key.pem", FOLDER / "signing_cert.pem"
    sh("openssl", "genrsa", "-out", key, "3072")
    sh("openssl", "req", "-new", "-x509", "-key", key, "-out", cert,
       "-days", "365", "-subj", "/CN=alice's image signer")
    image_file = FOLDER / "cirros-like.img"
    data = os.urandom(4 << 20)
    image_file.write_bytes(data)
    signature = sign(key, image_file)

    print("Starting PostgreSQL, Keystone, Barbican and a glance-api in "
          "each of %s and %s..." % (ONE, TWO))
    cloud = openstack.OpenStack(
        FOLDER / "cloud", import_guard={"exempt_service_roles": ["service"]})
    rows = []
    with cloud:
        print("  up in %.1f s; Keystone at %s" % (cloud.timings["total"],
                                                   cloud.auth_url))
        cert_id = cloud.store_certificate(cert.read_bytes(), "alice")
        print("  alice stored her certificate in Barbican: secret %s" %
              cert_id)
        bobs = cloud.store_certificate(cert.read_bytes(), "bob")
        signed = {
            "img_signature": signature,
            "img_signature_hash_method": "SHA-256",
            "img_signature_key_type": "RSA-PSS",
            "img_signature_certificate_uuid": cert_id,
        }
        one = cloud.connection("alice", ONE)
        two = cloud.connection("alice", TWO)

        def direct(case, conn, props, region=ONE):
            image = conn.image.create_image(
                name=case, disk_format="raw", container_format="bare",
                **props)
            conn.image.stage_image(image, data=data)
            response = start_import(conn, image, method="glance-direct")
            door = "glance-direct " + region
            if response.status_code != 202:
                # Refused at once, no task: uploading, its data staged.
                rows.append(http_row(case, door, response, conn, image.id))
                return image
            rows.append(outcome(case, door, conn,
                                harness.wait_for_import(conn, image.id)))
            return image

        def download(case, remote_id):
            image = two.image.create_image(
                name=case, disk_format="raw", container_format="bare")
            response = two.session.post(
                cloud.image_url(TWO) + "/v2/images/%s/import" % image.id,
                json={"method": {"name": "glance-download",
                                 "glance_region": ONE,
                                 "glance_image_id": remote_id,
                                 "glance_service_interface": "public"}},
                raise_exc=False)
            door = "glance-download %s->%s" % (ONE, TWO)
            if response.status_code != 202:
                rows.append(http_row(case, door, response,
                                     cloud.connection("alice", TWO),
                                     image.id))
                return
            rows.append(outcome(case, door, two,
                                harness.wait_for_import(two, image.id)))

        direct("unsigned image", one, {})
        direct("signed, certificate is bob's secret", one,
               dict(signed, img_signature_certificate_uuid=bobs))
        with cloud.barbican_down():
            direct("signed, Barbican is down", one, signed)
        source = direct("signed, certificate in Barbican", one, signed)
        download("signed in RegionOne, no signature here", source.id)
        path = cloud.image_path(source.id, ONE)
        path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        print("  (changed one byte of %s behind Glance's back)" % path)
        download("remote bytes changed in RegionOne's store", source.id)
        path.write_bytes(data)
        unsigned = cloud.connection("alice", ONE).image.create_image(
            name="unsigned upload", disk_format="raw",
            container_format="bare")
        response = one.session.put(
            cloud.image_url(ONE) + "/v2/images/%s/file" % unsigned.id,
            data=data[:4096], raise_exc=False,
            headers={"Content-Type": "application/octet-stream"})
        rows.append(http_row("unsigned image", "upload (PUT /file)",
                             response, cloud.connection("alice", ONE),
                             unsigned.id))
        nova = cloud.connection("alice", ONE,
                                session=cloud.service_session("alice"))
        snapshot = nova.image.create_image(
            name="snapshot", disk_format="raw", container_format="bare")
        response = nova.session.put(
            cloud.image_url(ONE) + "/v2/images/%s/file" % snapshot.id,
            data=data, raise_exc=False,
            headers={"Content-Type": "application/octet-stream"})
        rows.append(http_row(
            "unsigned, with nova's service token (exempt_service_roles)",
            "upload (PUT /file)", response, cloud.connection("alice", ONE),
            snapshot.id))
        rita = cloud.connection("rita", ONE)
        response = rita.session.put(
            cloud.image_url(ONE) + "/v2/images/%s/stage" % unsigned.id,
            data=data[:4096], raise_exc=False,
            headers={"Content-Type": "application/octet-stream"})
        rows.append(http_row("rita (reader) stages alice's image",
                             "glance-direct " + ONE, response,
                             cloud.connection("alice", ONE), unsigned.id))
        log = cloud.glance(TWO).log_path
    print("Stopped everything.\n")
    print_table(rows)
    print("\nglance-api logs: %s and %s's" % (log, ONE))
    # Refused at once (the record and the key manager alone), staged data
    # kept: unsigned, bob's certificate, Barbican down. Refused by the
    # download task, which reads the bytes: the changed remote bytes
    # (queued). Refused by the filter: the unsigned upload (queued); and
    # Glance's policy refuses rita's stage (the image stays queued).
    expected = ["uploading", "uploading", "uploading", "active", "active",
                "queued", "queued", "active", "queued"]
    return 0 if [r[2] for r in rows] == expected else 1


def outcome(case, door, conn, image):
    task = harness.last_task(conn, image.id)
    if task.status == "failure":
        message = task.message
    else:
        signed = "signed" if image.properties.get("img_signature") else \
            "unsigned"
        message = "(task %s, %s) os_hash_value %s..." % (
            task.status, signed, image.hash_value[:16])
    return (case, door, image.status, message)


def http_row(case, door, response, conn, image_id):
    image = conn.image.get_image(image_id)
    if response.status_code < 300:
        message = "(HTTP %d)" % response.status_code
        if image.hash_value:
            message += " os_hash_value %s..." % image.hash_value[:16]
    else:
        text = html.unescape(response.text)
        text = text.split("</h1>", 1)[-1].split("<br", 1)[0].strip()
        message = "(HTTP %d) %s" % (response.status_code, " ".join(
            text.split()))
    return (case, door, image.status, message)


if __name__ == "__main__":
    sys.exit(main())
