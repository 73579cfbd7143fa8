"""``glance-import-guard audit`` against a real glance-api with two file
stores. Images are made the honest ways (upload, import to both stores,
copy-image, a location registered by a service), then each verdict is made
to happen for real: a stored file edited in place or truncated, a
certificate replaced in the key manager, an image registered with no
validation data, one uploaded unsigned by an exempt role."""

import json
import os
import subprocess
import sys
import time

import pytest

from support import harness, signing
from support.e2e import new_image

CLI = os.path.join(os.path.dirname(sys.executable), "glance-import-guard")
STORES = ("store1", "store2")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    """glance-api with store1 and store2, the guard's plugin and filter,
    and every kind of image, each made to have its verdict."""
    folder = tmp_path_factory.mktemp("glance-audit")
    cert_dir = folder / "certificates"
    key = signing.make_key("RSA-PSS")
    signing.install_certificate(cert_dir, "signer",
                                signing.make_certificate(key))
    signing.install_certificate(cert_dir, "rotated",
                                signing.make_certificate(key))
    server = harness.GlanceServer(
        folder / "glance", certificate_dir=cert_dir, upload_filter=True,
        import_guard={"exempt_roles": ["unsigned-uploader"],
                      "exempt_service_roles": ["service"]},
        extra_config={
            "DEFAULT": {"enabled_backends":
                        "store1:file, store2:file, web:http",
                        "enabled_import_methods":
                        "[glance-direct, copy-image]",
                        "do_secure_hash": "false"},
            "store2": {"filesystem_store_datadir": str(folder / "store2")}})
    with harness.FileServer(folder / "http") as files, server:
        made = make_images(server, key, folder, files)
        yield server, made, folder


def make_images(server, key, folder, files):
    conn = server.client()
    admin = server.client(roles=("admin", "member", "reader"))
    images = {}

    def data():
        return os.urandom(512 * 1024) + b"audit"

    def upload(name, props, content, **roles):
        image = new_image(server.client(**roles), props)
        response = server.client(**roles).session.put(
            server.url + "/v2/images/%s/file" % image.id, data=content,
            raise_exc=False,
            headers={"Content-Type": "application/octet-stream"})
        assert response.status_code == 204, response.text
        images[name] = image.id
        return image

    for name in ("ok", "edited", "truncated"):
        content = data()
        upload(name, signing.signed_properties(key, "signer", content),
               content)
    content = data()
    image = new_image(conn, signing.signed_properties(key, "signer",
                                                      content))
    conn.image.stage_image(image, data=content)
    conn.image.import_image(image, method="glance-direct",
                            stores=list(STORES))
    assert harness.wait_for_import(conn, image.id).status == "active"
    images["two-stores"] = image.id
    content = data()
    image = new_image(conn, signing.signed_properties(key, "signer",
                                                      content))
    conn.image.stage_image(image, data=content)
    conn.image.import_image(image, method="glance-direct", stores=["store1"])
    assert harness.wait_for_import(conn, image.id).status == "active"
    admin.image.import_image(image, method="copy-image", stores=["store2"])
    deadline = time.monotonic() + 60
    while len((admin.image.get_image(image.id).properties or {}).get(
            "stores", "").split(",")) < 2:
        assert time.monotonic() < deadline, "copy-image did not finish"
        time.sleep(0.2)
    images["copied"] = image.id
    content = data()
    upload("unsigned", {}, content,
           roles=("member", "reader", "unsigned-uploader"))
    content = data()
    upload("bad-signature", signing.signed_properties(key, "rotated",
                                                      content), content)
    # A service registers data that is already somewhere (here an http
    # store) with no validation data, as Nova does for snapshots in a
    # shared store.
    image = new_image(conn, {})
    service = server.client(service_roles=("service",))
    response = service.session.post(
        server.url + "/v2/images/%s/locations" % image.id,
        json={"url": files.publish(data()), "validation_data": {}},
        headers={"OpenStack-API-Version": "image 2.17"}, raise_exc=False)
    assert response.status_code in (200, 202), response.text
    deadline = time.monotonic() + 30
    while conn.image.get_image(image.id).status != "active":
        assert time.monotonic() < deadline, "location was not added"
        time.sleep(0.2)
    images["no-hash"] = image.id

    # Now the stores and the key manager drift.
    edited = server.store_dir / images["edited"]
    with open(edited, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00")
    os.truncate(server.store_dir / images["truncated"], 1000)
    with open(folder / "store2" / images["two-stores"], "r+b") as f:
        f.write(b"tampered")
    other = signing.make_key("RSA-PSS")
    signing.install_certificate(folder / "certificates", "rotated",
                                signing.make_certificate(other))
    return images


def audit(server, *args):
    result = subprocess.run(
        [CLI, "audit", "--config-file",
         str(server.workdir / "glance-api.conf"), *args],
        capture_output=True, text=True, timeout=300)
    return result


def verdicts(result):
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    return {(r["image"], r["store"]): r for r in rows}


def test_every_verdict_and_the_exit_status(cloud):
    server, images, _ = cloud
    before = {p.name: p.stat().st_mtime_ns
              for p in server.store_dir.iterdir()}
    result = audit(server, "--format", "json-lines")
    assert result.returncode == 1, result.stderr
    rows = verdicts(result)
    expected = {
        (images["ok"], "store1"): "ok",
        (images["copied"], "store1"): "ok",
        (images["copied"], "store2"): "ok",
        (images["two-stores"], "store1"): "ok",
        (images["two-stores"], "store2"): "mismatch",
        (images["edited"], "store1"): "mismatch",
        (images["truncated"], "store1"): "size-mismatch",
        (images["no-hash"], "web"): "no-hash",
        (images["unsigned"], "store1"): "unsigned",
        (images["bad-signature"], "store1"): "signature-bad",
    }
    got = {k: rows[k]["verdict"] for k in expected if k in rows}
    assert got == expected, "\n".join(
        "%s %s: %s" % (k, rows[k]["verdict"], rows[k]["messages"])
        for k in rows)
    truncated = rows[(images["truncated"], "store1")]
    assert "mismatch" in truncated["findings"]  # the other findings too
    assert "signature-bad" in truncated["findings"]
    assert "img_signature does not match" in " ".join(
        rows[(images["bad-signature"], "store1")]["messages"])
    # Read-only: no stored file was written to.
    assert before == {p.name: p.stat().st_mtime_ns
                      for p in server.store_dir.iterdir()}


def test_a_table_for_people_and_one_image(cloud):
    server, images, _ = cloud
    result = audit(server, "--image", images["ok"])
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["image", "store", "loc", "verdict"]
    assert len(lines) == 2 and images["ok"] in lines[1] and " ok " in \
        lines[1]
    assert "audit 1/1: image %s" % images["ok"] in result.stderr


def test_an_unknown_image_and_another_project(cloud):
    server, images, _ = cloud
    result = audit(server, "--format", "json-lines", "--image",
                   "00000000-0000-0000-0000-000000000000")
    assert result.returncode == 0
    assert "no such image" in result.stdout
    result = audit(server, "--format", "json-lines", "--project", "nobody")
    assert result.returncode == 0 and result.stdout == ""


def test_resume_continues_a_stopped_run(cloud, tmp_path):
    """The first run recorded the edited image; the second does not read
    it again (its file is gone meanwhile, and it is still a mismatch)."""
    server, images, _ = cloud
    log = tmp_path / "audit.jsonl"
    first = audit(server, "--format", "json-lines", "--resume", str(log),
                  "--image", images["edited"])
    assert first.returncode == 1
    assert len(log.read_text().splitlines()) == 1
    stored = server.store_dir / images["edited"]
    kept = stored.read_bytes()
    stored.unlink()
    try:
        second = audit(server, "--format", "json-lines", "--resume", str(log),
                       "--image", images["edited"], "--image", images["ok"])
    finally:
        stored.write_bytes(kept)
    rows = verdicts(second)
    assert rows[(images["edited"], "store1")]["verdict"] == "mismatch"
    assert rows[(images["ok"], "store1")]["verdict"] == "ok"
    assert len(log.read_text().splitlines()) == 2


def test_a_missing_config_is_a_usage_error(tmp_path):
    result = subprocess.run(
        [CLI, "audit", "--config-file", str(tmp_path / "glance-api.conf")],
        capture_output=True, text=True)
    assert result.returncode == 2
    assert str(tmp_path / "glance-api.conf") in result.stderr


def test_json_is_one_array_json_lines_one_row_per_line(cloud):
    server, images, _ = cloud
    one = ("--image", images["ok"], "--image", images["edited"])
    as_json = audit(server, "--format", "json", *one)
    as_lines = audit(server, "--format", "json-lines", *one)
    assert as_json.returncode == as_lines.returncode == 1
    rows = json.loads(as_json.stdout)
    assert [r["verdict"] for r in rows] == ["mismatch", "ok"]
    lines = [json.loads(line) for line in as_lines.stdout.splitlines()]
    for row in rows + lines:
        del row["seconds"]  # each run's own
    assert rows == lines
