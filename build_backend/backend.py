"""The PEP 517 build backend: maturin's, plus a clear message without Rust.

pyproject.toml names this module (``backend-path = ["build_backend"]``), so
pip building the sdist runs it. Every hook is maturin's; the hooks that
compile first check that cargo (Rust >= RUST_MIN) is on PATH and otherwise
stop with a message that says what to install, or to use the prebuilt
wheel. Without this check maturin either fails with an obscure error or
tries to download a Rust toolchain, which would still not find the OpenSSL
headers a source build links against.
"""

import os
import re
import shutil
import subprocess
import sys

import maturin
from maturin import (  # noqa: F401  (hooks that need no Rust check)
    get_requires_for_build_sdist,
)

RUST_MIN = (1, 80)

# maturin warns that build-backend "is not set to maturin, packaging tools
# such as pip will not use maturin" whenever pyproject.toml names another
# backend; here pip is using maturin, through this module. The frontend
# runs the hooks in a process of their own, so this reaches only the
# maturin commands they start.
os.environ.setdefault("MATURIN_NO_MISSING_BUILD_BACKEND_WARNING", "1")

NO_RUST = """
glance-import-guard cannot be built from source here: {found}.
Building it needs Rust {need} or newer (cargo) and OpenSSL's headers.

Either install the prebuilt wheel instead (no Rust or OpenSSL needed:
any x86_64 or aarch64 Linux with glibc >= 2.17, any CPython >= 3.9):

    pip install glance_import_guard-*-cp39-abi3-manylinux2014_x86_64.whl

(`make wheel` builds it on a machine with Rust), or install what a
source build needs, then run pip again:

  - Rust >= {need} with cargo: https://rustup.rs
    (curl --proto '=https' -sSf https://sh.rustup.rs | sh), or the
    distribution's package (apt install cargo, dnf install cargo)
    if it is recent enough;
  - OpenSSL's headers and pkg-config, since a source build links the
    system libcrypto: apt install libssl-dev pkg-config (Debian, Ubuntu),
    dnf install openssl-devel pkgconf (Fedora, RHEL).
"""


def _fail(found):
    need = "%d.%d" % RUST_MIN
    sys.stderr.write(NO_RUST.format(need=need, found=found))
    sys.stderr.flush()
    raise SystemExit(1)


def check_rust():
    """Stops the build with NO_RUST unless cargo >= RUST_MIN is on PATH."""
    cargo = shutil.which("cargo")
    if cargo is None:
        _fail("cargo is not on PATH")
    try:
        out = subprocess.run([cargo, "--version"], capture_output=True,
                             text=True, timeout=120, check=False).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        _fail("%s --version failed (%s)" % (cargo, exc))
    match = re.match(r"cargo (\d+)\.(\d+)", out)
    if match is None:
        _fail("%s --version printed %r" % (cargo, out.strip()))
    if tuple(map(int, match.groups())) < RUST_MIN:
        _fail("%s is %s" % (cargo, out.strip()))


def get_requires_for_build_wheel(config_settings=None):
    check_rust()
    return maturin.get_requires_for_build_wheel(config_settings)


def get_requires_for_build_editable(config_settings=None):
    check_rust()
    return maturin.get_requires_for_build_editable(config_settings)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    check_rust()
    return maturin.prepare_metadata_for_build_wheel(
        metadata_directory, config_settings)


def prepare_metadata_for_build_editable(metadata_directory,
                                        config_settings=None):
    check_rust()
    return maturin.prepare_metadata_for_build_editable(
        metadata_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None):
    check_rust()
    return maturin.build_wheel(
        wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None,
                   metadata_directory=None):
    check_rust()
    return maturin.build_editable(
        wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    check_rust()  # maturin asks cargo which files the sdist holds
    return maturin.build_sdist(sdist_directory, config_settings)
