"""glance-import-guard, the installed console script, as a user runs it."""

import hashlib
import json
import os
import pathlib
import re
import shlex
import subprocess
import sys
from importlib import metadata

import pytest
from cryptography.hazmat.primitives import serialization

import glance_import_guard
from support import signing

CLI = os.path.join(os.path.dirname(sys.executable), "glance-import-guard")
ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(*args):
    return subprocess.run([CLI, *map(str, args)], capture_output=True,
                          text=True)


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "image.qcow2"
    path.write_bytes(os.urandom(2 << 20))
    return path


def write_key(tmp_path, key, name="key.pem", password=None):
    path = tmp_path / name
    encryption = (serialization.BestAvailableEncryption(password.encode())
                  if password else serialization.NoEncryption())
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        encryption))
    return path


def write_certificate(tmp_path, key, name="cert.pem"):
    return signing.install_certificate(tmp_path, name[:-4],
                                       signing.make_certificate(key))


def parse_args_output(line):
    words = shlex.split(line)
    assert words[::2] == ["--property"] * (len(words) // 2)
    return dict(w.split("=", 1) for w in words[1::2])


@pytest.mark.parametrize("key_type,hash_method", [
    ("RSA-PSS", "SHA-256"), ("ECC_SECP384R1", "SHA-384"),
    ("ECC_SECP521R1", "SHA-512"), ("DSA", "SHA-256")])
def test_sign_then_check_accepts(tmp_path, image, key_type, hash_method):
    key = signing.make_key(key_type)
    out = run("sign", image, "--key", write_key(tmp_path, key),
              "--certificate-id", "cert-1")
    assert out.returncode == 0, out.stderr
    props = parse_args_output(out.stdout)
    data = image.read_bytes()
    assert props["img_signature_key_type"] == key_type
    assert props["img_signature_hash_method"] == hash_method
    assert props["img_signature_certificate_uuid"] == "cert-1"
    assert props["img_hash_algo"] == "sha512"
    assert props["img_hash_value"] == hashlib.sha512(data).hexdigest()

    cert = write_certificate(tmp_path, key)
    check = run("check", image, "--certificate", cert,
                *[a for k, v in props.items()
                  for a in ("--property", "%s=%s" % (k, v))])
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.startswith("ACCEPT")
    # The signature is a real one: cursive-compatible verification with
    # cryptography, independent of the guard's code.
    import base64

    from cursive import signature_utils
    verifier = signature_utils.SignatureKeyType.lookup(key_type)\
        .create_verifier(base64.b64decode(props["img_signature"]),
                         signature_utils.HASH_METHODS[hash_method],
                         key.public_key())
    verifier.update(data)
    verifier.verify()


def test_sign_json_and_declared_algorithm(tmp_path, image):
    key = signing.make_key("RSA-PSS")
    out = run("sign", image, "--key", write_key(tmp_path, key, password="pw"),
              "--key-password-file", tmp_path / "pw.txt",
              "--certificate-id", "c", "--declare", "SHA3_256",
              "--format", "json")
    assert out.returncode == 2  # the password file does not exist yet
    assert "cannot read password file" in out.stderr
    (tmp_path / "pw.txt").write_text("pw\n")
    out = run("sign", image, "--key", tmp_path / "key.pem",
              "--key-password-file", tmp_path / "pw.txt",
              "--certificate-id", "c", "--declare", "SHA3_256",
              "--format", "json")
    assert out.returncode == 0, out.stderr
    props = json.loads(out.stdout)
    assert props["img_hash_algo"] == "sha3_256"
    assert props["img_hash_value"] == hashlib.sha3_256(
        image.read_bytes()).hexdigest()


def test_check_refuses_tampered_data_with_every_reason(tmp_path, image):
    key = signing.make_key("RSA-PSS")
    props = json.loads(run("sign", image, "--key", write_key(tmp_path, key),
                           "--certificate-id", "c", "--format",
                           "json").stdout)
    (tmp_path / "props.json").write_text(json.dumps(props))
    with open(image, "ab") as f:
        f.write(b"!")
    out = run("check", image, "--properties-json", tmp_path / "props.json",
              "--certificate", write_certificate(tmp_path, key))
    assert out.returncode == 1
    assert out.stdout.startswith("REFUSE: Image %s was not imported" % image)
    assert "does not match img_hash_value" in out.stdout
    assert "img_signature does not match the image data" in out.stdout


def test_check_without_certificate_says_the_signature_was_not_verified(
        tmp_path, image):
    key = signing.make_key("RSA-PSS")
    props = parse_args_output(run(
        "sign", image, "--key", write_key(tmp_path, key),
        "--certificate-id", "c").stdout)
    out = run("check", image, "--format", "json",
              *[a for k, v in props.items()
                for a in ("--property", "%s=%s" % (k, v))])
    result = json.loads(out.stdout)
    assert result["accepted"] is True
    assert "the signature was not verified" in result["notes"][0]
    assert result["digests"]["sha512"] == props["img_hash_value"]


def test_check_applies_a_config_file(tmp_path, image):
    key = signing.make_key("RSA-PSS", 2048)
    props = parse_args_output(run(
        "sign", image, "--key", write_key(tmp_path, key),
        "--certificate-id", "c").stdout)
    conf = tmp_path / "glance-api.conf"
    conf.write_text("[import_guard]\nmin_rsa_key_size = 3072\n")
    out = run("check", image, "--config-file", conf, "--certificate",
              write_certificate(tmp_path, key),
              *[a for k, v in props.items()
                for a in ("--property", "%s=%s" % (k, v))])
    assert out.returncode == 1
    assert "has 2048 bits but this cloud requires at least 3072" in out.stdout


def test_check_unsigned_image(image):
    out = run("check", image)
    assert out.returncode == 1
    assert "this cloud imports only signed images" in out.stdout
    out = run("check", image, "--roles", "admin")
    assert out.returncode == 1  # no exempt_roles by default


@pytest.mark.parametrize("args,message", [
    (["sign", "IMAGE", "--key", "/nonexistent.pem", "--certificate-id", "c"],
     "cannot read key /nonexistent.pem"),
    (["check", "IMAGE", "--property", "novalue"],
     "--property takes NAME=VALUE"),
    (["check", "/nonexistent.img"], "cannot read image /nonexistent.img"),
    (["check", "IMAGE", "--certificate", "IMAGE"],
     "is not an X.509 certificate"),
])
def test_bad_input_is_a_clear_error(image, args, message):
    out = run(*[str(image) if a == "IMAGE" else a for a in args])
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_curves_glance_cannot_verify_are_refused_at_signing(tmp_path,
                                                            image):
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    out = run("sign", image, "--key", write_key(tmp_path, key),
              "--certificate-id", "c")
    assert out.returncode == 2
    assert "only on P-384 and P-521" in out.stderr


def test_check_verifies_the_chain_to_trusted_certificates(tmp_path, image):
    ca = signing.make_ca()
    ca_file = signing.install_certificate(tmp_path, "ca", ca[1])
    key = signing.make_key("RSA-PSS")
    issued = signing.install_certificate(tmp_path, "issued",
                                         signing.make_certificate(
                                             key, issuer=ca))
    self_made = write_certificate(tmp_path, key, "self-made.pem")
    props = parse_args_output(run(
        "sign", image, "--key", write_key(tmp_path, key),
        "--certificate-id", "issued").stdout)
    args = [a for k, v in props.items()
            for a in ("--property", "%s=%s" % (k, v))]
    accepted = run("check", image, "--certificate", issued,
                   "--trusted-certificate", ca_file, *args)
    assert accepted.returncode == 0, accepted.stdout
    refused = run("check", image, "--certificate", self_made,
                  "--trusted-certificate", ca_file, "--format", "json",
                  *args)
    assert refused.returncode == 1
    assert [p["code"] for p in json.loads(refused.stdout)["problems"]] == [
        "certificate-untrusted"]


def cargo_version():
    """Cargo.toml's ``[package] version``, read here (with a regex: the
    matrix runs this file on Pythons without tomllib)."""
    text = (ROOT / "Cargo.toml").read_text()
    package = re.search(r"^\[package\]$(.*?)(?=^\[|\Z)", text,
                        re.M | re.S).group(1)
    return re.search(r'^version\s*=\s*"([^"]+)"$', package, re.M).group(1)


def test_version_is_the_installed_distributions():
    out = run("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "glance-import-guard %s\n" % metadata.version(
        "glance-import-guard")


def test_version_is_cargo_tomls():
    # Cargo.toml holds a plain MAJOR.MINOR.PATCH, which PEP 440 (the
    # metadata's form) spells the same.
    assert run("--version").stdout == "glance-import-guard %s\n" % (
        cargo_version())
    assert glance_import_guard.__version__ == cargo_version()
