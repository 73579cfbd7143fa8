"""The [import_guard] options as operators see them."""

import subprocess
import sys

import pytest
from oslo_config import cfg

from glance_import_guard import opts

OPTION_NAMES = {
    "require_signature", "required_signature_properties",
    "allowed_key_types", "require_hash", "hash_algo_property",
    "hash_value_property", "allowed_hash_algorithms", "exempt_roles",
    "exempt_service_roles", "require_remote_hash", "check_before_download",
    "remote_timeout",
    "hash_chunk_size", "hash_threads", "require_curve_match",
    "check_certificate_dates", "min_rsa_key_size", "trusted_certificate_ids"}


def test_every_option_has_help_with_possible_values():
    groups = dict(opts.list_opts())
    assert set(groups) == {"import_guard", "certificate_directory"}
    assert {o.name for o in groups["import_guard"]} == OPTION_NAMES
    assert {o.name for o in groups["certificate_directory"]} == {"path"}
    for options in groups.values():
        for o in options:
            assert "Possible values" in o.help, o.name


def test_sample_config_from_oslo_config_generator():
    out = subprocess.run(
        [sys.executable, "-m", "oslo_config.generator",
         "--namespace", "glance_import_guard"],
        check=True, capture_output=True, text=True).stdout
    assert "[import_guard]" in out
    assert "[certificate_directory]" in out
    for name in OPTION_NAMES:
        assert "#%s =" % name in out, name
    assert "#require_signature = true" in out
    assert "#allowed_hash_algorithms = sha224,sha256" in out


def test_defaults_make_a_valid_policy():
    import glance_import_guard as guard
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf([])
    p = opts.policy(conf)
    guard.Guard(p)  # valid
    assert p["require_signature"] is True
    assert "md5" not in p["allowed_hash_algorithms"]
    assert "sha1" not in p["allowed_hash_algorithms"]
    # What the installed cursive registers: always these four, plus the
    # binary curves where the installed cryptography still has them (< 47,
    # as every release up to 2026.2 pins). Computed from cryptography, not
    # from cursive, so a change in either shows here.
    from cryptography.hazmat.primitives.asymmetric import ec
    binary = ["ECC_" + c for c in ("SECT409K1", "SECT409R1", "SECT571K1",
                                   "SECT571R1") if hasattr(ec, c)]
    assert p["supported_key_types"] == sorted(
        ["DSA", "ECC_SECP384R1", "ECC_SECP521R1", "RSA-PSS"] + binary)


def test_unknown_algorithm_in_config_is_refused_by_oslo_config(tmp_path):
    conf_file = tmp_path / "glance-api.conf"
    conf_file.write_text("[import_guard]\nallowed_hash_algorithms = crc32\n")
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf(["--config-file", str(conf_file)])
    with pytest.raises(ValueError, match="crc32"):
        conf.import_guard.allowed_hash_algorithms  # noqa: B018
