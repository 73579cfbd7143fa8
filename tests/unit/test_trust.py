"""The guard's trust verdict (``trusted_certificate_ids``) against the
one the installed cursive's ``verify_certificate`` gives, chain by chain.

Chains are made with ``cryptography``. Each case states its verdict under
the fixed cursive (0.3.1) semantics; the guard must give it on every
release. cursive before 0.3.1 (0.2.3 in the 2024.1 to 2026.1
upper-constraints, 0.3.0 in master's) raises ``TypeError`` on a CA without
pathLenConstraint: those cases, and only those, are marked, and there the
guard must still give the fixed verdict.
"""

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID
from cursive import certificate_utils
from cursive import exception as cursive_exception

from conftest import SUMMARY
from glance_import_guard import _core
from support import signing

GUARD = None


def guard():
    """A guard with the default options (trust needs no option)."""
    global GUARD
    if GUARD is None:
        from oslo_config import cfg

        from glance_import_guard import opts
        conf = cfg.ConfigOpts()
        opts.register(conf)
        conf([])
        GUARD = _core.Guard(opts.policy(conf))
    return GUARD


CURSIVE_VERSION = tuple(
    int(p) for p in __import__("importlib.metadata").metadata.version(
        "cursive").split(".")[:3])
# The first cursive whose verify_certificate checks pathLen for None.
FIXED = (0, 3, 1)
NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def leaf(issuer=None, key=None, days=(-1, 365), name="image signer",
         printable_issuer=False, pss=False):
    """A signing certificate issued by ``issuer`` (key, certificate), or
    self-signed."""
    key = key or signing.make_key("ECC_SECP384R1")
    signer, issuer_name = (issuer if issuer else (key, None))
    if issuer_name is not None:
        issuer_name = issuer[1].subject
        if printable_issuer:
            value = issuer_name.get_attributes_for_oid(
                NameOID.COMMON_NAME)[0].value
            issuer_name = x509.Name([x509.NameAttribute(
                NameOID.COMMON_NAME, value,
                x509.name._ASN1Type.PrintableString)])
    else:
        issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                    name)])
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(
                   NameOID.COMMON_NAME, name)]))
               .issuer_name(issuer_name)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(NOW + days[0] * DAY)
               .not_valid_after(NOW + days[1] * DAY))
    if pss:
        return builder.sign(signer, hashes.SHA256(), rsa_padding=padding.PSS(
            mgf=padding.MGF1(hashes.SHA256()),
            salt_length=padding.PSS.DIGEST_LENGTH))
    return builder.sign(signer, hashes.SHA256())


def expired_ca():
    key = signing.make_key("ECC_SECP384R1")
    old = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(
               NameOID.COMMON_NAME, "old CA")]))
           .issuer_name(x509.Name([x509.NameAttribute(
               NameOID.COMMON_NAME, "old CA")]))
           .public_key(key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(NOW - 20 * DAY)
           .not_valid_after(NOW - 10 * DAY)
           .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                          critical=True)
           .add_extension(x509.KeyUsage(
               digital_signature=False, content_commitment=False,
               key_encipherment=False, data_encipherment=False,
               key_agreement=False, key_cert_sign=True, crl_sign=True,
               encipher_only=False, decipher_only=False), critical=True)
           .sign(key, hashes.SHA256()))
    return key, old


def cases():
    """(name, signing certificate, [(id, trusted certificate)], trusted?,
    raises TypeError in cursive < 0.3)."""
    ec_key = signing.make_key("ECC_SECP384R1")
    root = signing.make_ca("root", key=ec_key)
    root0 = signing.make_ca("root pathlen 0", path_length=0, key=ec_key)
    root1 = signing.make_ca("root pathlen 1", path_length=1, key=ec_key)
    inter_of_0 = signing.make_ca("intermediate", issuer=root0, key=ec_key)
    inter_of_1 = signing.make_ca("intermediate 0", path_length=0,
                                 issuer=root1, key=ec_key)
    inter_of_root = signing.make_ca("intermediate of root", issuer=root,
                                    key=ec_key)
    rsa_root = signing.make_ca("RSA root")
    dsa_root = signing.make_ca("DSA root", key=signing.make_key("DSA"))
    no_cert_sign = signing.make_ca("no keyCertSign", key_cert_sign=False,
                                   key=ec_key)
    impostor = signing.make_ca("root", key=signing.make_key("ECC_SECP384R1"))
    old = expired_ca()
    return [
        ("leaf of a CA without pathLen", leaf(root), [("root", root[1])],
         True, True),
        ("leaf of a CA with pathLen 0", leaf(root0), [("r0", root0[1])],
         True, False),
        ("intermediate under pathLen 0", leaf(inter_of_0),
         [("r0", root0[1]), ("i", inter_of_0[1])], False, False),
        ("intermediate under pathLen 1", leaf(inter_of_1),
         [("i", inter_of_1[1]), ("r1", root1[1])], True, False),
        ("two CAs without pathLen", leaf(inter_of_root),
         [("root", root[1]), ("i", inter_of_root[1])], True, True),
        ("root of the chain not trusted", leaf(inter_of_root),
         [("i", inter_of_root[1])], False, False),
        ("self-signed", leaf(), [("root", root[1])], False, False),
        ("trusted CA signs itself", root[1], [("root", root[1])], True,
         False),
        ("RSA CA", leaf(rsa_root), [("rsa", rsa_root[1])], True, True),
        ("DSA CA", leaf(dsa_root), [("dsa", dsa_root[1])], True, True),
        ("expired CA", leaf(old), [("old", old[1])], False, False),
        ("CA without keyCertSign", leaf(no_cert_sign),
         [("n", no_cert_sign[1])], False, False),
        ("expired signing certificate", leaf(root, days=(-20, -10)),
         [("root", root[1])], False, False),
        ("signing certificate not yet valid", leaf(root, days=(10, 20)),
         [("root", root[1])], False, False),
        ("same name, other key", leaf(impostor), [("root", root[1])],
         False, False),
        ("issuer name as PrintableString", leaf(root, printable_issuer=True),
         [("root", root[1])], True, True),
        ("RSA-PSS-signed certificate", leaf(rsa_root, pss=True),
         [("rsa", rsa_root[1])], False, False),
        ("unusable CA skipped, next one used", leaf(root),
         [("n", no_cert_sign[1]), ("old", old[1]), ("root", root[1])],
         True, True),
    ]


CASES = cases()
AGREED = []


def der(certificate):
    from cryptography.hazmat.primitives import serialization
    return certificate.public_bytes(serialization.Encoding.DER)


def cursive_verdict(certificate, trusted):
    """True, False, or the exception cursive raised instead of a verdict."""
    context = certificate_utils.CertificateVerificationContext(trusted)
    try:
        context.update(certificate)
        context.verify()
        return True
    except cursive_exception.SignatureVerificationError:
        return False
    except TypeError as e:
        return e


@pytest.mark.parametrize("name,certificate,trusted,expected,old_bug",
                         CASES, ids=[c[0] for c in CASES])
def test_guard_gives_the_fixed_cursive_verdict(name, certificate, trusted,
                                               expected, old_bug):
    problems = guard().check_trust(der(certificate), "signer",
                                 [(i, der(c)) for i, c in trusted])
    assert [p["code"] for p in problems] == (
        [] if expected else ["certificate-untrusted"])
    cursive_says = cursive_verdict(certificate, trusted)
    if isinstance(cursive_says, TypeError):
        assert old_bug and CURSIVE_VERSION < FIXED, (
            "cursive raised %r" % cursive_says)
    else:
        assert cursive_says == expected, "cursive changed its semantics"
    AGREED.append(cursive_says is expected)
    if len(AGREED) == len(CASES):
        SUMMARY.append(
            "trust corpus: %d chains, the guard gives the fixed verdict on "
            "all; the installed cursive %s agrees on %d and crashes on %d" % (
                len(CASES), ".".join(map(str, CURSIVE_VERSION)),
                sum(AGREED), len(AGREED) - sum(AGREED)))


def test_old_cursive_crash_is_what_the_guard_avoids():
    # Before 0.3.1 every old_bug case must really raise, or the marks above
    # say nothing; from 0.3.1 on none may.
    crashed = [c[0] for c in CASES
               if isinstance(cursive_verdict(c[1], c[2]), TypeError)]
    marked = [c[0] for c in CASES if c[4] and c[3]]
    if CURSIVE_VERSION < FIXED:
        assert set(crashed) >= set(marked) and crashed
    else:
        assert crashed == []


def test_ec_issuer_of_an_rsa_leaf():
    ca = signing.make_ca("EC CA", key=ec.generate_private_key(ec.SECP521R1()))
    certificate = signing.make_certificate(signing.make_key("RSA-PSS"),
                                           issuer=ca)
    assert guard().check_trust(der(certificate), "s", [("ca", der(ca[1]))]) \
        == []
