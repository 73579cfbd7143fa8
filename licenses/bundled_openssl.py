"""Prints the OpenSSL section of THIRD-PARTY-LICENSES (make licenses).

The release wheel links the OpenSSL that the openssl-src crate builds
(feature vendored-openssl). openssl-src is a build dependency of
openssl-sys, so cargo-about, which lists what is linked from the normal
dependencies, leaves it out; this adds the OpenSSL it bundles, with the
license text OpenSSL ships (openssl/LICENSE.txt in the crate).

Usage: python licenses/bundled_openssl.py FEATURES (those of make wheel)
"""

import json
import subprocess
import sys
from pathlib import Path


def openssl_src(features):
    """The openssl-src package that cargo resolves with ``features``."""
    metadata = json.loads(subprocess.run(
        ["cargo", "metadata", "--locked", "--format-version", "1",
         "--features", features],
        capture_output=True, text=True, check=True).stdout)
    resolved = {node["id"] for node in metadata["resolve"]["nodes"]}
    (package,) = [p for p in metadata["packages"]
                  if p["name"] == "openssl-src" and p["id"] in resolved]
    return package


def openssl_version(source):
    """MAJOR.MINOR.PATCH from OpenSSL's own VERSION.dat."""
    fields = dict(line.split("=", 1)
                  for line in (source / "VERSION.dat").read_text().split()
                  if "=" in line)
    return "%s.%s.%s" % (fields["MAJOR"], fields["MINOR"], fields["PATCH"])


def main(features):
    package = openssl_src(features)
    source = Path(package["manifest_path"]).parent / "openssl"
    print()
    print("=" * 80)
    print("OpenSSL %s (Apache License 2.0, Apache-2.0), bundled by:"
          % openssl_version(source))
    print("    openssl-src %s" % package["version"])
    print("-" * 80)
    print()
    print((source / "LICENSE.txt").read_text().rstrip("\n"))


if __name__ == "__main__":
    main(*sys.argv[1:])
