"""Real keys, certificates and signatures (made with ``cryptography``), the
way a user signs an image for Glance."""

import base64
import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, padding, rsa
from cryptography.x509.oid import NameOID

HASHES = {"SHA-224": hashes.SHA224, "SHA-256": hashes.SHA256,
          "SHA-384": hashes.SHA384, "SHA-512": hashes.SHA512}
CURVES = {"ECC_SECP384R1": ec.SECP384R1, "ECC_SECP521R1": ec.SECP521R1}


def make_key(key_type="RSA-PSS", bits=2048):
    if key_type == "RSA-PSS":
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    if key_type == "DSA":
        return dsa.generate_private_key(key_size=bits)
    return ec.generate_private_key(CURVES[key_type]())


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(key, common_name="image signer", days=365,
                     not_before=None, issuer=None):
    """A certificate for ``key``: self-signed, or issued by ``issuer``, a
    (CA key, CA certificate) pair."""
    now = datetime.datetime.now(datetime.timezone.utc)
    not_before = not_before or now - datetime.timedelta(days=1)
    signer_key, issuer_name = key, _name(common_name)
    if issuer is not None:
        signer_key, issuer_name = issuer[0], issuer[1].subject
    return (x509.CertificateBuilder()
            .subject_name(_name(common_name)).issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                           critical=True)
            .sign(signer_key, hashes.SHA256()))


def make_ca(common_name="image signing CA", path_length=None, issuer=None,
            key=None, key_cert_sign=True, days=3650):
    """A CA key and its certificate, marked to sign certificates (what
    cursive's verify_certificate requires): self-signed, or issued by
    ``issuer``, a (CA key, CA certificate) pair. ``path_length`` is its
    pathLenConstraint (None: no constraint, the common case)."""
    key = key or make_key("RSA-PSS", 3072)
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = x509.KeyUsage(
        digital_signature=True, content_commitment=False,
        key_encipherment=False, data_encipherment=False, key_agreement=False,
        key_cert_sign=key_cert_sign, crl_sign=True, encipher_only=False,
        decipher_only=False)
    signer_key, issuer_name = key, _name(common_name)
    if issuer is not None:
        signer_key, issuer_name = issuer[0], issuer[1].subject
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name)).issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True,
                                             path_length=path_length),
                       critical=True)
        .add_extension(usage, critical=True)
        .sign(signer_key, hashes.SHA256()))
    return key, certificate


def install_certificate(cert_dir, cert_id, certificate, pem=True):
    """Puts the certificate where the certificate_directory key manager
    serves it; returns the path."""
    cert_dir.mkdir(parents=True, exist_ok=True)
    encoding = (serialization.Encoding.PEM if pem
                else serialization.Encoding.DER)
    path = cert_dir / ("%s.%s" % (cert_id, "pem" if pem else "der"))
    path.write_bytes(certificate.public_bytes(encoding))
    return path


def sign(key, data, hash_method="SHA-256"):
    """The signature Glance expects, base64-encoded."""
    return base64.b64encode(raw_signature(key, data, hash_method)).decode()


def raw_signature(key, data, hash_method="SHA-256"):
    """The signature bytes: RSA-PSS (MGF1 of the hash, digest-length salt),
    DSA or ECDSA."""
    algorithm = HASHES[hash_method]()
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(data, padding.PSS(
            mgf=padding.MGF1(algorithm),
            salt_length=padding.PSS.DIGEST_LENGTH), algorithm)
    elif isinstance(key, dsa.DSAPrivateKey):
        signature = key.sign(data, algorithm)
    else:
        signature = key.sign(data, ec.ECDSA(algorithm))
    return signature


def signed_properties(key, cert_id, data, key_type="RSA-PSS",
                      hash_method="SHA-256", declare="sha512"):
    """Every property a signed image with a declared digest carries."""
    props = {
        "img_signature": sign(key, data, hash_method),
        "img_signature_hash_method": hash_method,
        "img_signature_key_type": key_type,
        "img_signature_certificate_uuid": cert_id,
    }
    if declare:
        props["img_hash_algo"] = declare
        props["img_hash_value"] = hashlib.new(declare, data).hexdigest()
    return props


def tampered(data):
    """``data`` with its last byte changed: other bytes of the same size
    (appending a fixed byte instead would give ``data`` back whenever
    random data already ends with it, one time in 256)."""
    return data[:-1] + bytes([data[-1] ^ 0xFF])
