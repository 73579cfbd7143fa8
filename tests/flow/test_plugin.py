"""The plugin as Glance runs it: loaded by Glance's own plugin loader, run in
a real taskflow engine behind Glance's real image-lock task, changing a real
image through Glance's ImportActionWrapper and database layer. Signatures
are real; castellan serves their certificate from the guard's
certificate_directory key manager."""

import logging
import os

import pytest
from glance.async_.flows import api_image_import
from glance.async_.flows import plugins as glance_plugins
from glance.common import exception as glance_exception
from taskflow import engines, retry
from taskflow.patterns import linear_flow as lf

from conftest import DEFAULT_DATA, PROJECT, sha, staged_exists
from glance_import_guard import decision, plugin, signature
from support import signing

TASK_TYPE = "api_image_import"


@pytest.fixture(autouse=True)
def guard_enabled(conf):
    conf(group="image_import_opts", image_import_plugins=["import_guard"])


def glance_flow(case, method="glance-direct"):
    """The head of Glance's import flow: its lock task, then the plugins
    Glance's loader finds for [image_import_opts] image_import_plugins."""
    kwargs = dict(
        context=case.context, task_id=case.task_id, task_type=TASK_TYPE,
        task_repo=None, image_repo=case.repo, image_factory=None,
        backend=case.stores, admin_repo=None, image_id=case.image_id,
        import_req={"method": {"name": method}},
        action_wrapper=case.wrapper)
    flow = lf.Flow(TASK_TYPE, retry=retry.AlwaysRevert())
    flow.add(api_image_import._ImageLock(case.task_id, TASK_TYPE,
                                         case.wrapper))
    for p in glance_plugins.get_import_plugins(**kwargs):
        flow.add(p)
    return flow


def run(case, method="glance-direct"):
    engine = engines.load(glance_flow(case, method),
                          store={"file_path": case.uri})
    engine.run()


def refuse(case, method="glance-direct"):
    with pytest.raises(glance_exception.UploadException) as info:
        run(case, method)
    assert isinstance(info.value, plugin.ImportRefused)
    message = str(info.value)
    assert case.image_id in message
    return message


def codes_of_refusal(case, method="glance-direct"):
    """Refuses ``case``; returns the problem codes of the refusal, from the
    WARNING record the plugin logs for it."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("glance_import_guard.plugin")
    logger.addHandler(handler)
    try:
        refuse(case, method)
    finally:
        logger.removeHandler(handler)
    refusals = [r for r in records if r.levelno == logging.WARNING
                and "import_guard refused" in r.msg]
    assert len(refusals) == 1
    return refusals[0].args["codes"].split(",")


@pytest.mark.parametrize("signed", [False, True])
def test_every_line_of_the_task_carries_the_requests_context(
        new_import, signed_for, signed):
    """taskflow runs the task in a thread of its own: each of the plugin's
    lines names the import's request context (oslo.log's prefix: request
    id, user, project), and the refusal line names it in its text too."""
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger("glance_import_guard.plugin")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        if signed:
            case = new_import(signed_for(DEFAULT_DATA))
            run(case)
        else:
            case = new_import({})
            refuse(case)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert records
    assert all(getattr(r, "context", None) is case.context
               for r in records), [(r.msg, getattr(r, "context", None))
                                   for r in records]
    if not signed:
        [refusal] = [r for r in records if r.levelno == logging.WARNING]
        assert refusal.args["door"] == "import"
        assert refusal.args["request"] == case.context.request_id
        assert refusal.args["user"] == case.context.user_id
        assert refusal.args["project"] == PROJECT
        assert refusal.args["image"] == case.image_id


def assert_retryable_after_refusal(case, staged_removed=True):
    image = case.image
    assert image.status == "queued"
    props = image.extra_properties
    assert "os_glance_import_task" not in props, "import lock left behind"
    assert props.get("os_glance_failed_import") == ",".join(case.stores)
    assert props.get("os_glance_importing_to_stores", "") == ""
    if staged_removed:
        assert not staged_exists(case), "staged data left behind"


def assert_untouched_after_acceptance(case):
    image = case.image
    assert image.status == "importing"
    props = image.extra_properties
    assert props["os_glance_import_task"] == case.task_id
    assert props["os_glance_importing_to_stores"] == ",".join(case.stores)
    assert staged_exists(case)


def test_glance_loader_finds_the_plugin(new_import):
    case = new_import({})
    subflows = [atom for atom, _ in glance_flow(case).iter_nodes()
                if isinstance(atom, lf.Flow)]
    assert len(subflows) == 1
    tasks = [atom for atom, _ in subflows[0].iter_nodes()]
    assert [type(t) for t in tasks] == [plugin.GuardImport]
    assert tasks[0].name == "%s-GuardImport-%s" % (TASK_TYPE, case.task_id)


def test_signed_image_is_accepted(new_import, signed_properties):
    case = new_import(signed_properties)
    run(case)
    assert_untouched_after_acceptance(case)


def test_signed_image_with_matching_declared_digest_is_accepted(
        new_import, signed_for):
    data = b"\x00\x01binary image data" * 5000
    props = dict(signed_for(data), img_hash_algo="SHA512",
                 img_hash_value=sha("sha512", data).upper())
    case = new_import(props, data=data)
    run(case)
    assert_untouched_after_acceptance(case)


def test_unsigned_image_is_refused_naming_every_missing_property(
        new_import):
    case = new_import({})
    message = refuse(case)
    for name in ("img_signature", "img_signature_hash_method",
                 "img_signature_key_type", "img_signature_certificate_uuid"):
        assert "%s is missing" % name in message
    assert_retryable_after_refusal(case)


BAD_PROPERTIES = {
    "one property missing": (
        {"img_signature_key_type": None},
        ["img_signature_key_type is missing"]),
    "empty property": (
        {"img_signature": ""}, ["img_signature is empty"]),
    "hash method in lower case": (
        {"img_signature_hash_method": "sha256"},
        ["img_signature_hash_method 'sha256' is not one of",
         "use 'SHA-256'"]),
    "key type cursive cannot verify": (
        {"img_signature_key_type": "ECC_SECP256R1"},
        ["'ECC_SECP256R1' is not a key type Glance can verify"]),
    "signature not base64": (
        {"img_signature": "c2lnbmF0dXJ"},
        ["img_signature is not valid base64"]),
    "signature decodes to nothing": (
        {"img_signature": "===="}, ["decodes to an empty signature"]),
    "certificate id with a path": (
        {"img_signature_certificate_uuid": "../../etc/passwd"},
        ["contains a path separator"]),
    "declared algorithm without value": (
        {"img_hash_algo": "sha256"},
        ["img_hash_algo is set but img_hash_value is not"]),
    "declared value without algorithm": (
        {"img_hash_value": "ab" * 32},
        ["img_hash_value is set but img_hash_algo is not"]),
    "md5 not allowed by default": (
        {"img_hash_algo": "md5", "img_hash_value": "ab" * 16},
        ["img_hash_algo 'md5' is not allowed on this cloud"]),
    "unknown algorithm": (
        {"img_hash_algo": "crc32", "img_hash_value": "abcd1234"},
        ["'crc32' is not a known digest algorithm"]),
    "value of the wrong length": (
        {"img_hash_algo": "sha512", "img_hash_value": "ab" * 32},
        ["has 64 characters but a sha512 digest is 128 hex characters"]),
    "value not hex": (
        {"img_hash_algo": "sha256", "img_hash_value": "zz" * 32},
        ["has the non-hex character 'z' at position 0"]),
}


@pytest.mark.parametrize("changes,expected", BAD_PROPERTIES.values(),
                         ids=BAD_PROPERTIES.keys())
def test_each_rule_refuses(new_import, signed_properties, changes,
                           expected):
    props = dict(signed_properties)
    for k, v in changes.items():
        if v is None:
            del props[k]
        else:
            props[k] = v
    case = new_import(props)
    message = refuse(case)
    for fragment in expected:
        assert fragment in message
    assert_retryable_after_refusal(case)


def test_data_not_matching_the_declared_digest_is_refused(
        new_import, signed_properties):
    data = b"the real image"
    declared = sha("sha256", b"the image the user meant")
    case = new_import(dict(signed_properties, img_hash_algo="sha256",
                           img_hash_value=declared), data=data)
    message = refuse(case)
    assert "does not match img_hash_value" in message
    assert sha("sha256", data) in message and declared in message
    assert_retryable_after_refusal(case)


def test_every_reason_is_given_at_once(new_import):
    data = b"x" * 10
    case = new_import({"img_signature_hash_method": "sha256",
                       "img_hash_algo": "sha384",
                       "img_hash_value": sha("sha384", b"y")}, data=data)
    assert codes_of_refusal(case) == [
        "missing-signature-property", "missing-signature-property",
        "missing-signature-property", "unknown-signature-hash-method",
        "digest-mismatch"]
    assert_retryable_after_refusal(case)


def test_refusal_is_logged_at_warning_with_image_project_and_reasons(
        new_import, caplog):
    case = new_import({})
    with caplog.at_level(logging.WARNING, logger="glance_import_guard"):
        refuse(case)
    records = [r for r in caplog.records
               if r.name == "glance_import_guard.plugin"
               and r.levelno == logging.WARNING]
    assert len(records) == 1
    text = records[0].getMessage()
    assert case.image_id in text and PROJECT in text
    assert "img_signature is missing" in text


def test_unsigned_image_is_accepted_when_signatures_are_not_required(
        new_import, conf):
    conf(group="import_guard", require_signature=False)
    case = new_import({})
    run(case)
    assert_untouched_after_acceptance(case)


def test_exempt_role_skips_the_signature_but_not_the_digest(
        new_import, conf, caplog):
    conf(group="import_guard", exempt_roles=["admin"])
    case = new_import({}, roles=("admin", "member"))
    with caplog.at_level(logging.INFO, logger="glance_import_guard"):
        run(case)
    assert_untouched_after_acceptance(case)
    [used] = [r for r in caplog.records if "exempt by role" in r.getMessage()]
    assert used.levelno == logging.INFO
    assert used.args["roles"] == "admin"
    assert used.args["image"] == case.image_id
    assert used.args["user"] == case.context.user_id

    case = new_import({"img_hash_algo": "sha256",
                       "img_hash_value": sha("sha256", b"other")},
                      roles=("admin",))
    message = refuse(case)
    assert "does not match" in message
    assert "img_signature is missing" not in message
    assert_retryable_after_refusal(case)

    case = new_import({}, roles=("member",))
    refuse(case)


def test_the_skip_signature_rule_skips_the_signature_but_not_the_digest(
        new_import, conf, caplog, tmp_path, monkeypatch):
    """The rule in Glance's policy file, with Glance's enforcer: the
    role in the project that owns the image imports unsigned (each use
    logged at INFO); its declared digest still counts; others sign."""
    from oslo_config import cfg
    from oslo_policy import opts as policy_opts

    from glance_import_guard import policies
    policy_opts.set_defaults(cfg.CONF)
    path = tmp_path / "policy.yaml"
    path.write_text('"import_guard:skip_signature": "role:image_builder '
                    'and project_id:%(project_id)s"\n')
    conf(group="oslo_policy", policy_file=str(path))
    monkeypatch.setattr(policies, "_glance_enforcer", None)
    case = new_import({}, roles=("image_builder", "member"))
    with caplog.at_level(logging.INFO, logger="glance_import_guard"):
        run(case)
    assert_untouched_after_acceptance(case)
    [used] = [r for r in caplog.records
              if "policy rule" in r.getMessage()]
    assert used.levelno == logging.INFO
    assert used.args["rule"] == "import_guard:skip_signature"
    assert used.args["image"] == case.image_id

    case = new_import({"img_hash_algo": "sha256",
                       "img_hash_value": sha("sha256", b"other")},
                      roles=("image_builder",))
    message = refuse(case)
    assert "does not match" in message
    assert "img_signature is missing" not in message

    assert "img_signature is missing" in refuse(
        new_import({}, roles=("member", "admin")))


def test_require_hash(new_import, conf, signed_properties):
    conf(group="import_guard", require_hash=True)
    case = new_import(signed_properties)
    assert "this cloud requires a declared digest" in refuse(case)
    assert_retryable_after_refusal(case)


def test_operator_narrows_key_types(new_import, conf, signed_properties):
    conf(group="import_guard", allowed_key_types=["ECC_SECP521R1"])
    case = new_import(signed_properties)  # RSA-PSS
    message = refuse(case)
    assert "'RSA-PSS' is not allowed on this cloud" in message
    assert "use one of ECC_SECP521R1" in message


def test_operator_renames_digest_properties(new_import, conf, signed_for):
    conf(group="import_guard", hash_algo_property="checksum_algo",
         hash_value_property="checksum_value")
    data = b"data"
    case = new_import(dict(signed_for(data), checksum_algo="sha3_256",
                           checksum_value=sha("sha3_256", b"other")),
                      data=data)
    assert "does not match checksum_value" in refuse(case)
    case = new_import(dict(signed_for(data), checksum_algo="sha3_256",
                           checksum_value=sha("sha3_256", data)),
                      data=data)
    run(case)


def test_operator_allows_md5(new_import, conf, signed_for):
    conf(group="import_guard", allowed_hash_algorithms=["md5", "sha256"])
    data = b"data"
    case = new_import(dict(signed_for(data), img_hash_algo="md5",
                           img_hash_value=sha("md5", data)), data=data)
    run(case)


def test_misconfiguration_refuses_with_a_message_for_the_user(
        new_import, conf, signed_properties, caplog):
    conf(group="import_guard", allowed_key_types=["ECC_SECP256R1"])
    case = new_import(signed_properties)
    with caplog.at_level(logging.ERROR, logger="glance_import_guard"):
        message = refuse(case)
    assert "the import guard is misconfigured" in message
    assert any("ECC_SECP256R1" in r.getMessage() for r in caplog.records
               if r.levelno == logging.ERROR)
    assert_retryable_after_refusal(case)


def test_missing_staged_file_is_refused_not_an_internal_error(
        new_import, signed_properties):
    case = new_import(signed_properties)
    os.remove(case.staged)
    assert "staged image data cannot be read" in refuse(case)
    assert_retryable_after_refusal(case)


@pytest.mark.parametrize("method", ["web-download", "glance-download"])
def test_download_refusal_leaves_status_to_the_download_task(new_import,
                                                             method):
    """Glance's web-download and glance-download tasks revert the status
    themselves; the guard setting it too would break that revert ("queued
    to queued is not allowed", see plugin._SELF_REVERTING_METHODS). The lock
    is still dropped by Glance's lock task."""
    case = new_import({})
    refuse(case, method=method)
    image = case.image
    assert image.status == "importing"
    assert "os_glance_import_task" not in image.extra_properties
    assert staged_exists(case)  # the download task's revert deletes it


def test_revert_after_a_later_failure_does_not_mark_stores_failed(
        new_import, signed_properties):
    """When a task after the guard fails, the guard's revert only returns
    the image to queued; the failing task accounts for its own store."""
    class StoreFails(api_image_import.task.Task):
        def execute(self):
            raise RuntimeError("store is down")

    case = new_import(signed_properties)
    flow = glance_flow(case)
    flow.add(StoreFails())
    with pytest.raises(RuntimeError):
        engines.load(flow, store={"file_path": case.uri}).run()
    image = case.image
    assert image.status == "queued"
    assert "os_glance_failed_import" not in image.extra_properties or \
        image.extra_properties["os_glance_failed_import"] == ""
    assert staged_exists(case)


def test_glance_hashing_algorithm_digest_is_logged_at_debug(
        new_import, conf, signed_for, caplog):
    conf(hashing_algorithm="sha3_512")
    data = b"logged"
    case = new_import(signed_for(data), data=data)
    with caplog.at_level(logging.DEBUG):
        run(case)
    debug = " ".join(r.getMessage() for r in caplog.records
                     if r.levelno == logging.DEBUG)
    assert sha("sha3_512", data) in debug
    # The Rust core's own log record reaches Python logging.
    assert any(r.name == "glance_import_guard.hasher"
               for r in caplog.records)


def test_signature_by_another_key_is_refused(new_import, signed_for):
    other = signing.signed_properties(signing.make_key("RSA-PSS"), "x",
                                      DEFAULT_DATA, declare=None)
    props = dict(signed_for(DEFAULT_DATA),
                 img_signature=other["img_signature"])
    case = new_import(props)
    message = refuse(case)
    assert "img_signature does not match the image data" in message
    assert props["img_signature_certificate_uuid"] in message
    assert_retryable_after_refusal(case)


def test_signature_over_other_data_is_refused(new_import, signed_for):
    case = new_import(signed_for(DEFAULT_DATA + b"!"))
    assert "img_signature does not match the image data" in refuse(case)


def test_unknown_certificate_is_refused(new_import, signed_for):
    props = dict(signed_for(DEFAULT_DATA),
                 img_signature_certificate_uuid="no-such-certificate")
    case = new_import(props)
    message = refuse(case)
    assert ("the signing certificate no-such-certificate "
            "(img_signature_certificate_uuid) cannot be used: the key "
            "manager has no secret with this id") in message
    assert_retryable_after_refusal(case)


def test_certificate_of_another_key_type_is_refused(new_import, signed_for):
    props = dict(signed_for(DEFAULT_DATA),
                 img_signature_key_type="ECC_SECP384R1")
    message = refuse(new_import(props))
    assert "Invalid public key type for signature key type" in message


@pytest.mark.parametrize("key_type,hash_method", [
    ("ECC_SECP384R1", "SHA-384"), ("ECC_SECP521R1", "SHA-512"),
    ("DSA", "SHA-256"), ("RSA-PSS", "SHA-224")])
def test_other_key_types_and_hashes_are_verified(new_import, conf, signer,
                                                 tmp_path, key_type,
                                                 hash_method):
    key = signing.make_key(key_type)
    cert_id = "signer-%s" % key_type.lower()
    signing.install_certificate(tmp_path, cert_id,
                                signing.make_certificate(key), pem=False)
    conf(group="key_manager", backend="certificate_directory")
    conf(group="certificate_directory", path=str(tmp_path))
    props = signing.signed_properties(key, cert_id, DEFAULT_DATA,
                                      key_type=key_type,
                                      hash_method=hash_method)
    run(new_import(props))
    bad = dict(props, img_signature=signing.sign(key, b"other",
                                                 hash_method))
    assert "does not match the image data" in refuse(new_import(bad))


def install(conf, tmp_path, certificate, cert_id="signer"):
    signing.install_certificate(tmp_path, cert_id, certificate)
    conf(group="key_manager", backend="certificate_directory")
    conf(group="certificate_directory", path=str(tmp_path))
    return cert_id


def test_curve_not_matching_the_key_type_is_refused(new_import, conf,
                                                    tmp_path):
    key = signing.make_key("ECC_SECP521R1")
    cert_id = install(conf, tmp_path, signing.make_certificate(key))
    props = signing.signed_properties(key, cert_id, DEFAULT_DATA,
                                      key_type="ECC_SECP384R1",
                                      hash_method="SHA-384", declare=None)
    case = new_import(props)
    message = refuse(case)
    assert ("holds a key on P-521 (secp521r1) but img_signature_key_type is "
            "ECC_SECP384R1") in message
    assert "does not match the image data" not in message  # it verifies
    assert_retryable_after_refusal(case)
    conf(group="import_guard", require_curve_match=False)
    run(new_import(props))  # as cursive would


def test_expired_certificate_is_refused(new_import, conf, tmp_path):
    import datetime
    key = signing.make_key("RSA-PSS")
    long_ago = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    cert_id = install(conf, tmp_path, signing.make_certificate(
        key, not_before=long_ago, days=30))
    props = signing.signed_properties(key, cert_id, DEFAULT_DATA,
                                      declare=None)
    message = refuse(new_import(props))
    assert "the signing certificate signer expired on Jan 31" in message
    conf(group="import_guard", check_certificate_dates=False)
    run(new_import(props))


def test_small_rsa_key_is_refused_saying_what_to_do(new_import, conf,
                                                    tmp_path):
    key = signing.make_key("RSA-PSS", 1024)
    cert_id = install(conf, tmp_path, signing.make_certificate(key))
    props = signing.signed_properties(key, cert_id, DEFAULT_DATA,
                                      declare=None)
    message = refuse(new_import(props))
    assert "has 1024 bits but this cloud requires at least 2048" in message
    assert "openssl genrsa -out signing_key.pem 3072" in message
    conf(group="import_guard", min_rsa_key_size=1024)
    run(new_import(props))


@pytest.mark.parametrize("path_length", [None, 0, 3])
def test_trusted_certificate_ids(new_import, conf, tmp_path, path_length):
    # path_length None is the common CA, on which cursive 0.2.3 (pinned by
    # every maintained release) raises TypeError.
    ca_key, ca_cert = signing.make_ca(path_length=path_length)
    signing.install_certificate(tmp_path, "ca", ca_cert)
    key = signing.make_key("RSA-PSS")
    issued = install(conf, tmp_path, signing.make_certificate(
        key, issuer=(ca_key, ca_cert)), "issued")
    self_made = install(conf, tmp_path, signing.make_certificate(key),
                        "self-made")
    conf(group="import_guard", trusted_certificate_ids=["ca"])

    run(new_import(signing.signed_properties(key, issued, DEFAULT_DATA,
                                             declare=None)))
    case = new_import(signing.signed_properties(key, self_made,
                                                DEFAULT_DATA, declare=None))
    message = refuse(case)
    assert "the signing certificate self-made is not trusted on this " \
        "cloud: Certificate chain building failed" in message
    assert_retryable_after_refusal(case)


def test_path_length_zero_refuses_a_certificate_of_an_intermediate(
        new_import, conf, tmp_path):
    root = signing.make_ca("root CA", path_length=0)
    intermediate = signing.make_ca("intermediate CA", issuer=root)
    signing.install_certificate(tmp_path, "root", root[1])
    signing.install_certificate(tmp_path, "intermediate", intermediate[1])
    key = signing.make_key("RSA-PSS")
    issued = install(conf, tmp_path, signing.make_certificate(
        key, issuer=intermediate), "issued")
    conf(group="import_guard",
         trusted_certificate_ids=["root", "intermediate"])
    case = new_import(signing.signed_properties(key, issued, DEFAULT_DATA,
                                                declare=None))
    assert codes_of_refusal(case) == ["certificate-untrusted"]
    assert_retryable_after_refusal(case)


def test_unexpected_error_is_a_refusal_logged_at_error(
        new_import, signed_properties, monkeypatch, caplog):
    def broken(*args):
        raise TypeError("'<' not supported between 'NoneType' and 'int'")

    monkeypatch.setattr(signature, "verify_with_certificate", broken)
    case = new_import(signed_properties)
    with caplog.at_level(logging.WARNING, logger="glance_import_guard"):
        assert codes_of_refusal(case) == ["guard-failed"]
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and case.image_id in errors[0].getMessage()
    assert "TypeError" in caplog.text
    assert_retryable_after_refusal(case)


def test_properties_that_are_not_utf8_become_replacement_characters():
    assert decision.properties_of({"img_signature": "c2ln\ud800IQ=="}) == \
        {"img_signature": "c2ln\ufffdIQ=="}
    assert decision.properties_of({"k\udfff": 42}) == {"k\ufffd": "42"}
