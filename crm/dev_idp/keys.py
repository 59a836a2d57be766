"""The demo IdP's signing key and certificate, kept in instance/dev-idp/ (never in the database or git)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from crm.config import write_private_file


def key_files(instance_path: str) -> tuple[Path, Path]:
    """Paths of the key and certificate."""
    folder = Path(instance_path) / "dev-idp"
    return folder / "key.pem", folder / "cert.pem"


def ensure_key_pair(instance_path: str) -> tuple[str, str]:
    """(key PEM, certificate PEM), made on first use: RSA 2048, SHA-256, valid ten years."""
    key_file, cert_file = key_files(instance_path)
    if not (key_file.exists() and cert_file.exists()):
        key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CRM demo identity provider")])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=3650)).sign(key, hashes.SHA256()))
        key_file.unlink(missing_ok=True)  # a key without its certificate is made again
        write_private_file(key_file, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_file.read_text(), cert_file.read_text()
