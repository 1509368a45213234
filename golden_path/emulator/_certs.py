"""A throwaway certificate authority and a loopback server certificate, for the Live API's TLS.

The SDK always opens Live sessions with ``wss://`` (it rewrites the base URL's scheme), so the
emulator must speak TLS on its port. Each emulator makes its own CA (P-256, valid one day) and
signs a server certificate for ``localhost``, ``127.0.0.1`` and ``::1``. The CA carries name
constraints limiting it to those names, so trusting it (as golden-path's clients for an
in-process emulator do) cannot vouch for any other host. The private keys never leave memory
except into the server's SSL context.
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
import os
import ssl
import tempfile

_LOOPBACK_NAMES = ("localhost",)
_LOOPBACK_IPS = ("127.0.0.1", "::1")


@dataclasses.dataclass(frozen=True, slots=True)
class Certificates:
    """The CA certificate clients trust, and the server's context that presents its leaf."""

    ca_pem: str
    server_context: ssl.SSLContext


def make_certificates(extra_host: str | None = None) -> Certificates:
    """A fresh CA and a server certificate for loopback (and ``extra_host`` when not loopback)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "golden-path emulator CA")])
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in _LOOPBACK_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in _LOOPBACK_IPS]
    permitted: list[x509.GeneralName] = [x509.DNSName(n) for n in _LOOPBACK_NAMES]
    permitted += [
        x509.IPAddress(ipaddress.ip_network("127.0.0.0/8")),
        x509.IPAddress(ipaddress.ip_network("::1/128")),
    ]
    wildcard = ("0.0.0.0", "::")  # noqa: S104 -- names of "every interface", never trusted
    if extra_host and extra_host not in (*_LOOPBACK_NAMES, *_LOOPBACK_IPS, *wildcard):
        try:
            address = ipaddress.ip_address(extra_host)
        except ValueError:
            names.append(x509.DNSName(extra_host))
            permitted.append(x509.DNSName(extra_host))
        else:
            names.append(x509.IPAddress(address))
            permitted.append(x509.IPAddress(ipaddress.ip_network(address)))
    usage = x509.KeyUsage(
        digital_signature=False, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=True,
        crl_sign=True, encipher_only=False, decipher_only=False,
    )  # fmt: skip
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.NameConstraints(permitted, None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_pem = ca_cert.public_bytes(pem).decode()
    chain = leaf.public_bytes(pem) + ca_cert.public_bytes(pem)
    key_pem = leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl loads a certificate chain only from files: write both to a private temporary file
    # and remove it at once.
    fd, path = tempfile.mkstemp(prefix="gp-emulator-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(chain + key_pem)
        context.load_cert_chain(path)
    finally:
        os.unlink(path)
    return Certificates(ca_pem, context)
