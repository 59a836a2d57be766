"""Keys and certificates made by the test suite itself (never a real IdP's)."""
from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


@functools.lru_cache(maxsize=16)
def key_pair(name: str = "test-idp", days: int = 365, starts_days_ago: int = 1) -> tuple[str, str]:
    """(private key PEM, certificate PEM) for a self-signed certificate; cached per arguments."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test IdP")])
    start = datetime.now(UTC) - timedelta(days=starts_days_ago)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=days)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def cert_body(cert_pem: str) -> str:
    """The base64 body of a PEM certificate on one line."""
    return "".join(line for line in cert_pem.splitlines() if "-----" not in line)


def expired_cert() -> str:
    """A certificate whose validity ended yesterday."""
    return key_pair("expired-idp", days=30, starts_days_ago=31)[1]


def expiring_cert() -> str:
    """A certificate that ends in ten days."""
    return key_pair("expiring-idp", days=11, starts_days_ago=1)[1]
