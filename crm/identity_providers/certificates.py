"""X.509 signing certificates as admins paste them: PEM or the bare base64 body."""
from __future__ import annotations

import base64
import binascii
import re
import textwrap
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from crm.timeutil import utcnow

_PEM = re.compile(r"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)
EXPIRY_WARNING = timedelta(days=30)
# Every signing certificate an IdP publishes is kept (Entra's multi-tenant metadata lists four). The cap only bounds
# what one hostile response can cost: a signature no certificate verifies is tried against each of them.
MAX_CERTIFICATES = 10


class CertificateInvalid(ValueError):
    """The text is not a usable certificate; the message says why in plain words."""


@dataclass(frozen=True)
class CertificateInfo:
    """A parsed certificate: normalised PEM plus what the admin needs to recognise it."""

    pem: str
    fingerprint_sha256: str
    subject: str
    not_before: datetime
    not_after: datetime

    @property
    def body(self) -> str:
        """The base64 body on one line (what python3-saml's settings take)."""
        return "".join(self.pem.splitlines()[1:-1])

    def expired(self, now: datetime | None = None) -> bool:
        """True when the certificate's validity has ended."""
        return self.not_after <= (now or utcnow())

    def expires_soon(self, now: datetime | None = None) -> bool:
        """True when it is still valid but ends within 30 days."""
        now = now or utcnow()
        return not self.expired(now) and self.not_after - now <= EXPIRY_WARNING


def parse_certificate(text: str) -> CertificateInfo:
    """Parse one certificate from PEM text or a bare base64 body; raise CertificateInvalid with the reason."""
    text = (text or "").strip()
    if not text:
        raise CertificateInvalid("Paste the IdP's signing certificate (PEM, or the base64 text inside it).")
    if "PRIVATE KEY" in text:
        raise CertificateInvalid("This is a private key, not a certificate. Paste the IdP's public signing "
                                 "certificate; never share a private key.")
    bodies = _PEM.findall(text)
    if len(bodies) > 1:
        raise CertificateInvalid("This text holds several certificates; add them one at a time.")
    if not bodies and "-----BEGIN" in text:
        kind = text.split("-----BEGIN", 1)[1].split("-----", 1)[0].strip()
        raise CertificateInvalid(f"This is a {kind}, not a CERTIFICATE.")
    body = re.sub(r"\s+", "", bodies[0] if bodies else text)
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise CertificateInvalid("This is neither PEM nor base64: check that the whole certificate was copied.") \
            from None
    return certificate_from_der(der)


def certificate_from_der(der: bytes) -> CertificateInfo:
    """Describe a DER-encoded certificate."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise CertificateInvalid("This is not an X.509 certificate (it may be cut short or be another kind "
                                 "of key).") from None
    fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
    pem_body = base64.b64encode(der).decode()
    try:  # cryptography reads the subject and the dates only when asked, and refuses a malformed one then
        subject = cert.subject.rfc4514_string() or "(no subject)"
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    except ValueError:
        raise CertificateInvalid("This certificate cannot be read: its subject or validity is malformed. Ask the "
                                 "IdP admin for a certificate made by a standard tool.") from None
    return CertificateInfo(
        pem="-----BEGIN CERTIFICATE-----\n" + "\n".join(textwrap.wrap(pem_body, 64)) + "\n-----END CERTIFICATE-----",
        fingerprint_sha256=":".join(fingerprint[i:i + 2] for i in range(0, len(fingerprint), 2)),
        subject=subject,
        not_before=not_before.replace(tzinfo=None),
        not_after=not_after.replace(tzinfo=None),
    )


def require_current(info: CertificateInfo, now: datetime | None = None) -> CertificateInfo:
    """Refuse an expired certificate or one not valid yet."""
    now = now or utcnow()
    if info.expired(now):
        raise CertificateInvalid(f"This certificate expired on {info.not_after:%Y-%m-%d} ({info.subject}). "
                                 "Ask the IdP admin for the current one.")
    if info.not_before > now + timedelta(days=1):
        raise CertificateInvalid(f"This certificate is only valid from {info.not_before:%Y-%m-%d}.")
    return info


def read_certificates(text: str | None) -> list[CertificateInfo]:
    """The current certificates from pasted text (PEM blocks or one bare base64 body)."""
    blocks = _PEM.findall(text or "") or ([text] if (text or "").strip() else [])
    if not blocks:
        raise CertificateInvalid("Add the IdP's signing certificate, or import its metadata.")
    if len(blocks) > MAX_CERTIFICATES:
        raise CertificateInvalid(f"At most {MAX_CERTIFICATES} signing certificates can be configured at once.")
    return [require_current(parse_certificate(block)) for block in blocks]


def usable(certificates, now: datetime | None = None) -> list:
    """The certificates a signature may be verified with: those not expired (an expired one is never used)."""
    now = now or utcnow()
    return [c for c in certificates if c.not_after > now]
