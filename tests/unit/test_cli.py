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
ROOT = pathlib.Path(__file__).resolve().parents[2]


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
              "--certificate-id", "cert-1", "--format", "shell")
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
        "--certificate-id", "c", "--format", "shell").stdout)
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
        "--certificate-id", "c", "--format", "shell").stdout)
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
        "--certificate-id", "issued", "--format", "shell").stdout)
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


# One vocabulary: --format table|json (sign: shell too; audit: json-lines
# too), old values deprecated; oslo.config's --config-file/--config-dir.


def test_sign_prints_a_table_by_default_the_same_properties_as_json(
        tmp_path, image):
    key = write_key(tmp_path, signing.make_key("ECC_SECP384R1"))
    table = run("sign", image, "--key", key, "--certificate-id", "c")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["property", "value"]
    shown = dict(line.split(None, 1) for line in lines[1:])
    as_json = json.loads(run("sign", image, "--key", key,
                             "--certificate-id", "c", "--format",
                             "json").stdout)
    # ECDSA signatures differ each time: compare everything else.
    assert set(shown) == set(as_json)
    del shown["img_signature"], as_json["img_signature"]
    assert shown == as_json


def test_sign_format_args_is_deprecated_for_shell(tmp_path, image):
    key = write_key(tmp_path, signing.make_key("ECC_SECP384R1"))
    old = run("sign", image, "--key", key, "--certificate-id", "c",
              "--format", "args")
    assert old.returncode == 0, old.stderr
    assert "--format args is deprecated; use --format shell" in old.stderr
    props = parse_args_output(old.stdout)
    assert props["img_signature_certificate_uuid"] == "c"
    new = run("sign", image, "--key", key, "--certificate-id", "c",
              "--format", "shell")
    assert "deprecated" not in new.stderr
    assert set(parse_args_output(new.stdout)) == set(props)


def test_check_format_text_is_deprecated_for_table(image):
    old, new = run("check", image, "--format", "text"), run("check", image)
    assert old.returncode == new.returncode == 1
    assert old.stdout == new.stdout
    assert "--format text is deprecated; use --format table" in old.stderr
    assert "deprecated" not in new.stderr


@pytest.mark.parametrize("command,value", [
    ("sign", "text"), ("check", "args"), ("check", "shell"),
    ("doctor", "json-lines"), ("audit", "text")])
def test_a_format_another_subcommand_takes_is_bad_usage(image, command,
                                                        value):
    out = run(command, image, "--format", value)
    assert out.returncode == 2
    assert "invalid choice: %r" % value in out.stderr


def test_check_reads_config_files_in_order_as_oslo_does(tmp_path, image):
    """The last --config-file wins; a --config-dir reads its *.conf,
    sorted, where it stands."""
    strict = tmp_path / "strict.conf"
    strict.write_text("[import_guard]\nrequire_signature = true\n")
    lax = tmp_path / "lax.conf"
    lax.write_text("[import_guard]\nrequire_signature = false\n")
    assert run("check", image, "--config-file", strict, "--config-file",
               lax).returncode == 0
    assert run("check", image, "--config-file", lax, "--config-file",
               strict).returncode == 1
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "10-lax.conf").write_text(lax.read_text())
    assert run("check", image, "--config-dir", conf_d).returncode == 0
    (conf_d / "20-strict.conf").write_text(strict.read_text())
    assert run("check", image, "--config-dir", conf_d).returncode == 1
    assert run("check", image, "--config-dir", conf_d, "--config-file",
               lax).returncode == 0


def test_glance_apis_default_config_files(tmp_path):
    """The files read without --config-file are glance-api's own
    (glance/common/wsgi_app.py), with and without
    glance-image-import.conf."""
    from glance_import_guard import config_args

    def glances(env):
        # A child interpreter: importing wsgi_app registers command-line
        # options on Glance's CONF, which this process has parsed (glance
        # 28 raises ArgsAlreadyParsedError).
        return json.loads(subprocess.run(
            [sys.executable, "-c", "import json, sys\n"
             "from glance.common import wsgi_app\n"
             "print(json.dumps(wsgi_app._get_config_files("
             "json.loads(sys.argv[1]))))", json.dumps(env)],
            check=True, capture_output=True, text=True).stdout)

    def glances_confs(env):
        # glance 28 (2024.1) lists glance-api-paste.ini too, which holds no
        # option: config_args leaves it out (see default_config_files).
        return [f for f in glances(env)
                if not f.endswith("glance-api-paste.ini")]

    env = {"OS_GLANCE_CONFIG_DIR": str(tmp_path)}
    assert config_args.default_config_files(env) == \
        glances_confs(env) == [str(tmp_path / "glance-api.conf")]
    (tmp_path / "glance-image-import.conf").write_text("")
    assert config_args.default_config_files(env) == \
        glances_confs(env) == [
            str(tmp_path / "glance-image-import.conf"),
            str(tmp_path / "glance-api.conf")]
    assert config_args.default_config_files({}) == \
        glances_confs({}) == ["/etc/glance/glance-api.conf"]


# The exit codes: one table (cli.EXIT_CODES), in README.md and --help, and
# each code for each subcommand that has it. check's 0/1/2, sign's 0/2,
# doctor's and audit's are above, in test_doctor.py and test_e2e_audit.py;
# here the ones left.


def readme_exit_codes():
    """{(code, command): meaning} of README.md's exit-code table."""
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| (\d) \| (`\w+`|all) \| (.+?) \|$", text, re.M)
    return {(int(code), command.strip("`").replace("all", "*")):
            meaning.replace("`", "") for code, command, meaning in rows}


def test_the_readme_table_is_the_clis():
    from glance_import_guard import cli
    assert readme_exit_codes() == {
        (code, command): meaning for code, meanings in cli.EXIT_CODES
        for command, meaning in meanings.items()}


@pytest.mark.parametrize("command", ["sign", "check", "doctor", "audit"])
def test_help_shows_each_exit_code(command):
    from glance_import_guard import cli
    out = run(command, "--help")
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for code, meanings in cli.EXIT_CODES:
        meaning = meanings.get(command) or meanings.get("*")
        if meaning:
            assert "%d %s" % (code, meaning) in text
        else:
            assert "\n  %d " % code not in out.stdout


def test_an_unknown_argument_exits_2(image):
    out = run("check", image, "--no-such-flag")
    assert out.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in out.stderr


def test_audit_without_its_config_file_exits_2(tmp_path):
    out = run("audit", "--config-file", tmp_path / "glance-api.conf")
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert str(tmp_path / "glance-api.conf") in out.stderr


def test_audit_that_cannot_reach_glances_database_exits_3(tmp_path):
    """Not 1 (a location failed): the audit did not finish."""
    stores = {name: {"filesystem_store_datadir": str(tmp_path / name)}
              for name in ("store1", "os_glance_staging_store",
                           "os_glance_tasks_store")}
    conf = tmp_path / "glance-api.conf"
    conf.write_text("".join("[%s]\n%s\n" % (section, "".join(
        "%s = %s\n" % kv for kv in options.items()))
        for section, options in dict(stores, **{
            "DEFAULT": {"enabled_backends": "store1:file"},
            "glance_store": {"default_backend": "store1"},
            "database": {"connection": "sqlite:///%s" % (
                tmp_path / "no-such-folder" / "glance.sqlite")},
        }).items()))
    out = run("audit", "--config-file", conf)
    assert out.returncode == 3, out.stderr[-2000:]
    assert "Traceback" in out.stderr
    assert "glance-import-guard: error: audit could not finish" in out.stderr


def test_an_unexpected_error_exits_3_not_1(monkeypatch, image, capsys):
    from glance_import_guard import check, cli

    def broken(guard, *args):
        raise RuntimeError("a bug")
    monkeypatch.setattr(check.decision, "decide", broken)
    assert cli.main(["check", str(image)]) == 3
    err = capsys.readouterr().err
    assert "RuntimeError: a bug" in err
    assert "check could not finish" in err
