#!/usr/bin/env bash
# Checks the aarch64 release wheel (make wheel-aarch64) on an emulated
# aarch64: Debian's arm64 python3.11 unpacked into a sysroot (a private apt
# configuration, so the host's dpkg architectures are not touched), run by
# qemu-user; the wheel's digests must equal the host's hashlib's.
#   tests/matrix/aarch64.sh target/wheels-aarch64/glance_import_guard-*.whl
set -euo pipefail
wheel=$1
work=${AARCH64_WORK:-$PWD/target/aarch64}
command -v qemu-aarch64-static >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q qemu-user-static >/dev/null; }
if [ ! -x "$work/sysroot/usr/bin/python3.11" ]; then
    mkdir -p "$work"/{state/lists/partial,cache/archives/partial,debs,sysroot}
    touch "$work/state/status"
    cat > "$work/apt.conf" <<CONF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Dir::State "$work/state";
Dir::State::status "$work/state/status";
Dir::Cache "$work/cache";
CONF
    export APT_CONFIG=$work/apt.conf
    apt-get update -q >/dev/null
    (cd "$work/debs" && apt-get download -q python3.11-minimal libpython3.11-minimal \
        libpython3.11-stdlib libc6 libssl3 zlib1g libexpat1 libffi8 liblzma5 libbz2-1.0 \
        libcrypt1 libgcc-s1 libzstd1 libuuid1 >/dev/null)
    for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$work/sysroot"; done
fi
rm -rf "$work/site" && mkdir -p "$work/site"
python3 -m zipfile -e "$wheel" "$work/site"
head -c $((3 << 20)) /dev/urandom > "$work/image"
script='
import hashlib, json, platform, sys
from glance_import_guard import _core
names = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sha3_256", "sha3_512", "blake2b", "blake2s"]
print(json.dumps([platform.machine(), sys.version.split()[0], _core.hash_file(sys.argv[1], names)]))'
out=$(PYTHONPATH=$work/site qemu-aarch64-static -L "$work/sysroot" "$work/sysroot/usr/bin/python3.11" -c "$script" "$work/image")
python3 - "$out" "$work/image" <<'PY'
import hashlib, json, sys
machine, version, got = json.loads(sys.argv[1])
data = open(sys.argv[2], "rb").read()
bad = [n for n, v in got.items() if hashlib.new(n, data).hexdigest() != v]
print("aarch64 wheel under qemu: machine %s, Python %s, %d digests, %s" % (
    machine, version, len(got), "mismatches: %s" % bad if bad else "all equal hashlib's"))
sys.exit(1 if bad or machine != "aarch64" else 0)
PY
