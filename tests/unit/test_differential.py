"""The guard's signature verdict against cursive's own, case by case.

For every case of a generated corpus (RSA-PSS 1024-4096 bits x the four
hashes x salt 0 / digest length / max; ECDSA on P-384 and P-521 and the
other curves cursive lets through; DSA 1024/2048/3072; and malformed
signatures of each kind cursive refuses), the guard's verdict (its property
rules, its one-pass digest, its Prehashed verification) must equal the
verdict of cursive's streaming verifier, the code Glance runs while writing
to a store. The guard's stricter certificate rules are off here (they are
meant to differ; test_signature.py covers them).
"""

import base64
import os
import uuid

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric import utils as asym_utils
from cursive import signature_utils

from conftest import SUMMARY
from glance_import_guard import _core, opts, signature
from support import signing

HASHES = signing.HASHES
DATA = os.urandom(300_000) + b"image tail"
OTHER = DATA[:-1] + b"!"
# The order n of P-384 (SEC 2 / FIPS 186-4).
P384_ORDER = int("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
                 "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973", 16)


# The binary curves the installed cursive registers as key types: none with
# cryptography >= 47; all four with the 42/43 every release up to 2026.2
# pins. Each gets cases, so the corpus covers what that cursive verifies.
BINARY_CURVES = [
    name for name in ("SECT409K1", "SECT409R1", "SECT571K1", "SECT571R1")
    if "ECC_" + name in signature_utils.SignatureKeyType.REGISTERED_TYPES]


def pss(salt):
    def sign(key, data, hash_method):
        algorithm = HASHES[hash_method]()
        return key.sign(data, padding.PSS(mgf=padding.MGF1(algorithm),
                                          salt_length=salt), algorithm)
    return sign


def ecdsa(key, data, hash_method):
    return key.sign(data, ec.ECDSA(HASHES[hash_method]()))


def dsa_sign(key, data, hash_method):
    return key.sign(data, HASHES[hash_method]())


def high_s(key, data, hash_method):
    r, s = asym_utils.decode_dss_signature(ecdsa(key, data, hash_method))
    s = s if s > P384_ORDER // 2 else P384_ORDER - s
    return asym_utils.encode_dss_signature(r, s)


def raw_rs(key, data, hash_method):
    r, s = asym_utils.decode_dss_signature(ecdsa(key, data, hash_method))
    n = (key.curve.key_size + 7) // 8
    return r.to_bytes(n, "big") + s.to_bytes(n, "big")


def pkcs1v15(key, data, hash_method):
    return key.sign(data, padding.PKCS1v15(), HASHES[hash_method]())


def mgf1_sha1(key, data, hash_method):
    algorithm = HASHES[hash_method]()
    return key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA1()),
                                      salt_length=32), algorithm)


def trailing(sign):
    return lambda key, data, h: sign(key, data, h) + b"\x00"


def truncated(sign):
    return lambda key, data, h: sign(key, data, h)[:-1]


def flipped(sign):
    def f(key, data, h):
        sig = bytearray(sign(key, data, h))
        sig[len(sig) // 2] ^= 0x01
        return bytes(sig)
    return f


def over_other_data(sign):
    return lambda key, data, h: sign(key, OTHER, h)


def hashed_with(other_hash, sign):
    return lambda key, data, h: sign(key, data, other_hash)


def b64(sig):
    return base64.b64encode(sig).decode()


def wrapped(sig):  # openssl base64 / encodebytes: 76-column lines
    return base64.encodebytes(sig).decode()


def unpadded(sig):
    return b64(sig).rstrip("=")


def junk_after_padding(sig):
    return b64(sig) + "QUJD"


def urlsafe(sig):
    return base64.urlsafe_b64encode(sig).decode()


@pytest.fixture(scope="module")
def keys():
    curves = {"P-384": ec.SECP384R1, "P-521": ec.SECP521R1,
              "P-256": ec.SECP256R1, "P-224": ec.SECP224R1,
              "secp256k1": ec.SECP256K1}
    k = {"RSA-%d" % b: rsa.generate_private_key(65537, b)
         for b in (1024, 2048, 3072, 4096)}
    k["RSA-1024-e3"] = rsa.generate_private_key(3, 1024)
    k.update({"DSA-%d" % b: dsa.generate_private_key(b)
              for b in (1024, 2048, 3072)})
    k.update({name: ec.generate_private_key(c()) for name, c in
              curves.items()})
    k.update({name: ec.generate_private_key(getattr(ec, name)())
              for name in BINARY_CURVES})
    return k


def corpus():
    """(key, img_signature_key_type, hash method, signer, kind, encoder,
    what cursive is known to decide: salts 0/digest/max, 1024-bit keys and
    exponent 3 pass; PKCS#1 v1.5, MGF1-SHA1, raw r||s and any change to the
    bytes fail; EC curves are not compared with the key type; measured on
    cursive 0.2.3 and 0.3.1). The last column keeps the
    comparison honest: a broken setup that made both sides refuse
    everything would still "agree"."""
    good = []
    salts = {"salt 0": 0, "salt digest": padding.PSS.DIGEST_LENGTH,
             "salt max": padding.PSS.MAX_LENGTH}
    for bits in ("RSA-1024", "RSA-2048", "RSA-3072", "RSA-4096"):
        for h in HASHES:
            for salt_name, salt in salts.items():
                if (bits, h, salt_name) == ("RSA-1024", "SHA-512",
                                            "salt digest"):
                    continue  # 64 + 64 + 2 bytes do not fit in 128
                good.append((bits, "RSA-PSS", h, pss(salt), salt_name))
    good.append(("RSA-1024-e3", "RSA-PSS", "SHA-256", pss(0), "exponent 3"))
    for curve, key_type in (("P-384", "ECC_SECP384R1"),
                            ("P-521", "ECC_SECP521R1")):
        for h in HASHES:
            good.append((curve, key_type, h, ecdsa, "ecdsa"))
    for curve in ("P-256", "P-224", "secp256k1", "P-521"):
        good.append((curve, "ECC_SECP384R1", "SHA-384", ecdsa,
                     "curve not compared"))
    for bits in ("DSA-1024", "DSA-2048", "DSA-3072"):
        for h in ("SHA-224", "SHA-256"):
            good.append((bits, "DSA", h, dsa_sign, "dsa"))
    good.append(("P-384", "ECC_SECP384R1", "SHA-384", high_s, "high S"))
    for name in BINARY_CURVES:
        good.append((name, "ECC_" + name, "SHA-512", ecdsa, "binary curve"))
    bad = [
        ("RSA-2048", "RSA-PSS", "SHA-256", pkcs1v15, "PKCS#1 v1.5"),
        ("RSA-2048", "RSA-PSS", "SHA-256", mgf1_sha1, "MGF1-SHA1"),
        ("RSA-2048", "RSA-PSS", "SHA-256", trailing(pss(32)), "trailing"),
        ("RSA-2048", "RSA-PSS", "SHA-256", truncated(pss(32)), "truncated"),
        ("RSA-2048", "RSA-PSS", "SHA-256", flipped(pss(32)), "flipped"),
        ("RSA-2048", "RSA-PSS", "SHA-512", over_other_data(pss(0)),
         "other data"),
        ("RSA-2048", "RSA-PSS", "SHA-512", hashed_with("SHA-256", pss(0)),
         "other hash"),
        ("RSA-2048", "ECC_SECP384R1", "SHA-256", pss(0), "RSA key as EC"),
        ("RSA-2048", "DSA", "SHA-256", pss(0), "RSA key as DSA"),
        ("P-384", "RSA-PSS", "SHA-384", ecdsa, "EC key as RSA"),
        ("P-384", "ECC_SECP384R1", "SHA-384", raw_rs, "raw r||s"),
        ("P-384", "ECC_SECP384R1", "SHA-384", trailing(ecdsa), "trailing"),
        ("P-384", "ECC_SECP384R1", "SHA-384", truncated(ecdsa), "truncated"),
        ("P-384", "ECC_SECP384R1", "SHA-384", flipped(ecdsa), "flipped"),
        ("P-384", "ECC_SECP384R1", "SHA-384", over_other_data(ecdsa),
         "other data"),
        ("P-384", "ECC_SECP384R1", "SHA-256", hashed_with("SHA-384", ecdsa),
         "other hash"),
        ("DSA-2048", "DSA", "SHA-256", trailing(dsa_sign), "trailing"),
        ("DSA-2048", "DSA", "SHA-256", flipped(dsa_sign), "flipped"),
        ("DSA-2048", "DSA", "SHA-256", over_other_data(dsa_sign),
         "other data"),
        ("DSA-2048", "ECC_SECP521R1", "SHA-256", dsa_sign, "DSA key as EC"),
    ] + [(name, "ECC_" + name, "SHA-512", flipped(ecdsa), "flipped")
         for name in BINARY_CURVES]
    cases = ([c + (b64, True) for c in good]
             + [c + (b64, False) for c in bad])
    # How img_signature is written, on one good signature (2048-bit RSA:
    # 256 bytes, so its base64 ends in "==").
    for encode, accepted in ((wrapped, True), (junk_after_padding, True),
                             (unpadded, False), (urlsafe, False)):
        cases.append(("RSA-2048", "RSA-PSS", "SHA-256", pss(32),
                      encode.__name__, encode, accepted))
    return cases


CORPUS = corpus()
AGREED = []


def test_corpus_size_and_mix():
    assert len(CORPUS) >= 90
    assert 20 <= sum(1 for c in CORPUS if not c[-1]) < len(CORPUS) - 20


@pytest.fixture(scope="module")
def installed(keys, tmp_path_factory):
    """Each key's certificate in a certificate directory."""
    cert_dir = tmp_path_factory.mktemp("differential-certs")
    ids = {}
    for name, key in keys.items():
        ids[name] = "cert-%s-%s" % (name, uuid.uuid4().hex[:6])
        signing.install_certificate(cert_dir, ids[name],
                                    signing.make_certificate(key))
    return cert_dir, ids


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("differential-data") / "image"
    path.write_bytes(DATA)
    return path


def lenient_policy():
    from oslo_config import cfg
    conf = cfg.ConfigOpts()
    opts.register(conf)
    conf([])
    policy = opts.policy(conf)
    policy["certificate"] = {"require_curve_match": False,
                             "check_certificate_dates": False,
                             "min_rsa_key_size": 0}
    return policy


def guard_verdict(properties, path):
    policy = lenient_policy()
    guard = _core.Guard(policy)
    verdict = guard.check_properties(properties, exempt=False)
    if verdict["problems"]:
        return False
    sig = verdict["plan"]["signature"]
    digest = _core.hash_file(path, [sig["hash"]])[sig["hash"]]
    return not signature.verify(None, guard, sig, digest, [])


def cursive_verdict(properties, data):
    try:
        verifier = signature_utils.get_verifier(
            None, properties["img_signature_certificate_uuid"],
            properties["img_signature_hash_method"],
            properties["img_signature"],
            properties["img_signature_key_type"])
        for i in range(0, len(data), 65536):
            verifier.update(data[i:i + 65536])
        verifier.verify()
        return True
    except Exception:
        return False


@pytest.mark.parametrize(
    "key_name,key_type,hash_method,sign,kind,encode,accepted", CORPUS,
    ids=["%s %s %s %s" % (c[0], c[1], c[2], c[4]) for c in CORPUS])
def test_guard_agrees_with_cursive(conf, keys, installed, image, key_name,
                                   key_type, hash_method, sign, kind,
                                   encode, accepted):
    cert_dir, ids = installed
    conf(group="key_manager", backend="certificate_directory")
    conf(group="certificate_directory", path=str(cert_dir))
    properties = {
        "img_signature": encode(sign(keys[key_name], DATA, hash_method)),
        "img_signature_hash_method": hash_method,
        "img_signature_key_type": key_type,
        "img_signature_certificate_uuid": ids[key_name],
    }
    expected = cursive_verdict(properties, DATA)
    assert expected == accepted, "cursive no longer decides as documented"
    got = guard_verdict(properties, image)
    assert got == expected, "cursive says %s, the guard %s" % (expected, got)
    AGREED.append(got)
    if len(AGREED) == len(CORPUS):
        SUMMARY.append(
            "differential corpus: %d cases, %d agree with cursive (%d "
            "accepted, %d refused)" % (len(CORPUS), len(AGREED),
                                       sum(AGREED), len(AGREED) - sum(AGREED)))
