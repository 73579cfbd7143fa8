"""The published wheel installs anywhere; the sdist says what it needs.

`make wheel` leaves one wheel in target/wheels and installs it into this
virtualenv: abi3 for CPython >= 3.9, manylinux2014 (glibc >= 2.17), with
OpenSSL linked statically, so it needs no libssl or libcrypto on the host.
Building the sdist on a machine without Rust stops with a message that
says what to install (build_backend/backend.py).

The aarch64 wheel is checked under qemu-user by `make wheel-aarch64`
(tests/matrix/aarch64.sh), not here: it needs the aarch64 Rust target.
"""

import email
import hashlib
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import tomllib  # 3.11+: .venv runs this file, the matrix does not

from conftest import SUMMARY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the virtualenv's bin, not resolved
ARCH = platform.machine()
MANYLINUX = "manylinux_2_17_%s" % ARCH  # manylinux2014
OPENSSL = re.compile(r"lib(ssl|crypto)\b")


def tool(name):
    path = BIN / name
    assert path.exists(), "%s is missing: run make venv" % path
    return str(path)


def run(*args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True,
                          timeout=120, check=False, **kwargs)


def one_wheel(folder, make_target):
    wheels = sorted((ROOT / folder).glob("glance_import_guard-*.whl"))
    assert len(wheels) == 1, (
        "expected exactly one wheel in %s (run %s), found %s"
        % (folder, make_target, [w.name for w in wheels]))
    return wheels[0]


def release_wheel():
    """The wheel make wheel built: a test fails (never skips) without it."""
    return one_wheel("target/wheels", "make wheel")


def wheel_metadata(path, member):
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist()
                    if n.endswith(".dist-info/" + member))
        return email.message_from_bytes(archive.read(name))


def test_wheel_is_abi3_for_python_39_and_manylinux2014():
    wheel = release_wheel()
    _, _, python, abi, platforms = wheel.name[:-len(".whl")].split("-")
    assert (python, abi) == ("cp39", "abi3"), wheel.name
    assert MANYLINUX in platforms.split("."), wheel.name
    tags = wheel_metadata(wheel, "WHEEL").get_all("Tag")
    assert "cp39-abi3-%s" % MANYLINUX in tags, tags
    floor = wheel_metadata(wheel, "METADATA")["Requires-Python"]
    assert floor == ">=3.9", floor
    SUMMARY.append("packaging: %s (%.1f MiB): tags %s, Requires-Python %s"
                   % (wheel.name, wheel.stat().st_size / 2**20,
                      ", ".join(tags), floor))


def test_the_version_is_written_only_in_cargo_toml():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
    metadata = wheel_metadata(release_wheel(), "METADATA")
    assert metadata["Version"] == cargo["version"]


def test_auditwheel_manylinux2014_without_external_openssl():
    wheel = release_wheel()
    result = run(tool("auditwheel"), "show", str(wheel))
    assert result.returncode == 0, result.stdout + result.stderr
    report = " ".join(result.stdout.split())
    assert ('consistent with the following platform tag: "%s"'
            % MANYLINUX) in report, result.stdout
    # auditwheel lists every shared library the wheel needs from the host
    # beyond the manylinux set (libc, libpthread, libdl...).
    assert not OPENSSL.search(report), result.stdout


def test_twine_check():
    wheel = release_wheel()
    result = run(tool("twine"), "check", "--strict", str(wheel))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout, result.stdout


def test_installed_module_is_the_wheels_and_links_no_openssl():
    wheel = release_wheel()
    spec = importlib.util.find_spec("glance_import_guard._core")
    installed = Path(spec.origin)
    with zipfile.ZipFile(wheel) as archive:
        member = "glance_import_guard/" + installed.name
        assert archive.read(member) == installed.read_bytes(), (
            "%s is not the one in %s: run make wheel" % (installed, wheel))
    assert shutil.which("readelf"), "readelf (binutils) is needed"
    result = run("readelf", "--dynamic", str(installed))
    assert result.returncode == 0, result.stderr
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", result.stdout)
    assert needed and not any(OPENSSL.match(lib) for lib in needed), needed
    SUMMARY.append("packaging: %s needs %s"
                   % (installed.name, ", ".join(needed)))


def test_static_openssl_digests_match_hashlib(tmp_path):
    from glance_import_guard import _core

    data = os.urandom(3 << 20) + b"tail"
    path = tmp_path / "image"
    path.write_bytes(data)
    names = ["md5", "sha1", "sha256", "sha512", "sha3_256"]
    got = _core.hash_file(str(path), names)
    assert got == {n: hashlib.new(n, data).hexdigest() for n in names}


# The sdist without Rust.

def load_backend():
    spec = importlib.util.spec_from_file_location(
        "glance_import_guard_backend", ROOT / "build_backend" / "backend.py")
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    return backend


def test_backend_accepts_this_cargo_and_refuses_an_old_one(
        tmp_path, monkeypatch, capsys):
    backend = load_backend()
    backend.check_rust()  # the cargo that built the wheel
    fake = tmp_path / "cargo"
    fake.write_text("#!/bin/sh\necho 'cargo 1.79.0 (ffa9cf99a 2024-06-03)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SystemExit) as exit_:
        backend.get_requires_for_build_wheel()
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "cannot be built from source here: %s is cargo 1.79.0" % fake in err
    assert "Rust 1.80 or newer" in err


def test_backend_is_maturin_with_cargo_tomls_version_and_no_warning(
        tmp_path):
    """pip builds through build_backend/backend.py, that is with maturin,
    so maturin's warning that build-backend is not maturin is wrong here
    and the backend turns it off; the metadata has Cargo.toml's version."""
    env = {k: v for k, v in os.environ.items()
           if k != "MATURIN_NO_MISSING_BUILD_BACKEND_WARNING"}
    # As pip's build environment: maturin's hooks run `maturin` from PATH.
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    hook = ("import sys; sys.path.insert(0, 'build_backend'); import backend; "
            "print(backend.prepare_metadata_for_build_wheel(sys.argv[1]))")
    result = run(sys.executable, "-c", hook, str(tmp_path), cwd=ROOT,
                 env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    dist_info = tmp_path / result.stdout.strip().splitlines()[-1]
    metadata = email.message_from_bytes((dist_info / "METADATA").read_bytes())
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
    assert metadata["Version"] == cargo["version"]
    assert "build-backend" not in result.stderr, result.stderr


def test_sdist_without_rust_says_what_to_install(tmp_path):
    dist = tmp_path / "dist"
    result = run(tool("maturin"), "sdist", "--out", str(dist), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    (sdist,) = dist.glob("glance_import_guard-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert "build_backend/backend.py" in names, sorted(names)

    # A PATH with python and nothing else, no ~/.cargo/bin to fall back on.
    bare = tmp_path / "bin"
    bare.mkdir()
    for name in ("python", "python3"):
        (bare / name).symlink_to(sys.executable)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CARGO", "RUSTUP", "RUSTC", "MATURIN"))}
    env.update(PATH=str(bare), HOME=str(tmp_path / "home"),
               PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    result = run(tool("pip"), "install", "--no-build-isolation", "--no-deps",
                 "--no-index", "--no-cache-dir", "--target",
                 str(tmp_path / "site"), str(sdist), env=env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for expected in (
            "cannot be built from source here: cargo is not on PATH",
            "Rust 1.80 or newer", "https://rustup.rs", "libssl-dev",
            "openssl-devel", "pkg-config", "manylinux2014"):
        assert expected in output, output
    assert not (tmp_path / "site").exists()


# The licenses: LICENSE (the guard's, Apache-2.0) and THIRD-PARTY-LICENSES
# (make licenses: every crate linked into the extension module and the
# OpenSSL the release wheel bundles) travel in the wheel's
# .dist-info/licenses/ and at the sdist's root (pyproject.toml,
# license-files).
LICENSE_FILES = ("LICENSE", "THIRD-PARTY-LICENSES")
# What make wheel builds with (the Makefile's WHEEL_FEATURES and
# vendored-openssl), for the targets of make wheel and make wheel-aarch64.
RELEASE_FEATURES = "python,pyo3/extension-module,vendored-openssl"
WHEEL_TARGETS = ("x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu")


def cargo_metadata(*args):
    result = run("cargo", "metadata", "--locked", "--format-version", "1",
                 "--features", RELEASE_FEATURES, *args, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def linked_crates():
    """(name, version) of every crate the library reaches through normal
    dependencies (not build- or dev-only ones) on a wheel's target."""
    crates = set()
    for target in WHEEL_TARGETS:
        metadata = cargo_metadata("--filter-platform", target)
        packages = {p["id"]: p for p in metadata["packages"]}
        nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}
        seen, todo = set(), [metadata["resolve"]["root"]]
        while todo:
            for dep in nodes[todo.pop()]["deps"]:
                normal = any(kind["kind"] is None
                             for kind in dep["dep_kinds"])
                if normal and dep["pkg"] not in seen:
                    seen.add(dep["pkg"])
                    todo.append(dep["pkg"])
        crates |= {(packages[i]["name"], packages[i]["version"])
                   for i in seen}
    return sorted(crates)


def third_party_licenses():
    path = ROOT / "THIRD-PARTY-LICENSES"
    assert path.exists(), "%s is missing: run make licenses" % path
    return path.read_text()


def test_the_wheel_carries_license_and_third_party_licenses():
    wheel = release_wheel()
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for name in LICENSE_FILES:
            members = [n for n in names
                       if n.endswith(".dist-info/licenses/" + name)]
            assert len(members) == 1, (name, names)
            assert archive.read(members[0]) == (ROOT / name).read_bytes(), (
                "%s in %s is not the repository's: run make wheel"
                % (members[0], wheel.name))
    metadata = wheel_metadata(wheel, "METADATA")
    assert metadata["License-Expression"] == "Apache-2.0"
    assert sorted(metadata.get_all("License-File")) == sorted(LICENSE_FILES)


def test_the_sdist_carries_license_and_third_party_licenses(tmp_path):
    result = run(tool("maturin"), "sdist", "--out", str(tmp_path), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    (sdist,) = tmp_path.glob("glance_import_guard-*.tar.gz")
    with tarfile.open(sdist) as archive:
        root = archive.getnames()[0].split("/")[0]
        for name in LICENSE_FILES:
            member = archive.extractfile("%s/%s" % (root, name))
            assert member.read() == (ROOT / name).read_bytes(), name
        metadata = email.message_from_bytes(
            archive.extractfile(root + "/PKG-INFO").read())
    assert metadata["License-Expression"] == "Apache-2.0"
    assert sorted(metadata.get_all("License-File")) == sorted(LICENSE_FILES)


def test_license_is_the_full_apache_2_0_text():
    text = (ROOT / "LICENSE").read_text()
    # The text as the Apache Software Foundation publishes it
    # (LICENSE-2.0.txt), appendix included.
    assert hashlib.sha256(text.encode()).hexdigest() == (
        "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30")


def test_third_party_licenses_name_every_linked_crate():
    listed = {line.strip() for line in third_party_licenses().splitlines()}
    missing = ["%s %s" % crate for crate in linked_crates()
               if "%s %s" % crate not in listed]
    assert not missing, (
        "THIRD-PARTY-LICENSES lacks %s: run make licenses" % missing)


def test_third_party_licenses_name_the_bundled_openssl_and_its_license():
    metadata = cargo_metadata()
    resolved = {node["id"] for node in metadata["resolve"]["nodes"]}
    (package,) = [p for p in metadata["packages"]
                  if p["name"] == "openssl-src" and p["id"] in resolved]
    # openssl-src's version carries the OpenSSL it bundles: 300.6.1+3.6.3.
    openssl = package["version"].split("+")[1]
    license_text = (Path(package["manifest_path"]).parent / "openssl"
                    / "LICENSE.txt").read_text()
    text = third_party_licenses()
    assert "OpenSSL %s " % openssl in text, (
        "THIRD-PARTY-LICENSES does not name OpenSSL %s: run make licenses"
        % openssl)
    assert "openssl-src %s" % package["version"] in text
    assert license_text.strip() in text
