"""This service provider's own key pairs: generated on first use, stored encrypted, rotated without losing a sign-in.

A rollover has two steps so that no IdP is ever left with metadata we cannot honour: `rotate` publishes a "next"
key beside the active one (both decrypt, the active one still signs, so an IdP holding our old metadata keeps
accepting our requests); `retire` removes the old key once the IdPs have the new metadata, and the next one becomes
active and signs from then on.
"""
from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import NameOID
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm.audit import services as audit
from crm.extensions import db
from crm.sso.decryption import DecryptionKey
from crm.sso.models import SP_KEY_ACTIVE, SP_KEY_NEXT, MetadataFetch, SpKey
from crm.timeutil import utcnow

KEY_BITS = 3072  # RSA, because RSA-OAEP key transport (what IdPs encrypt with) needs an RSA key
CERT_YEARS = 20  # the certificate only carries the public key: IdPs pin it, they do not check a CA or its dates
CIPHER_VERSION = "v1"


class SpKeyError(ValueError):
    """A key change that cannot be made; the message says why and what to do instead."""


@dataclass(frozen=True)
class PublishedKey:
    """A key pair as the protocol uses it: the certificate, the private key, and what it may do."""

    id: int
    state: str
    certificate_pem: str
    private_key_pem: str
    fingerprint: str

    @property
    def certificate_body(self) -> str:
        """The certificate's base64 body, as metadata and python3-saml's settings carry it."""
        return "".join(line for line in self.certificate_pem.splitlines() if "-----" not in line)


# --- the private key at rest --------------------------------------------------------------------------------------

def _wrapping_key() -> bytes:
    """A 256-bit AES key derived from SECRET_KEY, for this purpose only (HKDF's info keeps it apart from any other)."""
    secret = current_app.config["SECRET_KEY"]
    secret = secret.encode() if isinstance(secret, str) else secret
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"crm sp-key private key v1").derive(secret)


def seal(private_key_pem: bytes, fingerprint: str) -> str:
    """AES-GCM with the fingerprint as associated data: a ciphertext moved to another key's row does not open."""
    nonce = os.urandom(12)
    sealed = AESGCM(_wrapping_key()).encrypt(nonce, private_key_pem, fingerprint.encode())
    return f"{CIPHER_VERSION}:{base64.b64encode(nonce + sealed).decode()}"


def unseal(ciphertext: str, fingerprint: str) -> bytes:
    """The private key PEM; SpKeyError when SECRET_KEY is not the one it was sealed with."""
    from cryptography.exceptions import InvalidTag

    version, _, body = ciphertext.partition(":")
    if version != CIPHER_VERSION:
        raise SpKeyError(f"The private key of SP key {fingerprint[:23]}… is stored in an unknown format.")
    raw = base64.b64decode(body)
    try:
        return AESGCM(_wrapping_key()).decrypt(raw[:12], raw[12:], fingerprint.encode())
    except InvalidTag:
        raise SpKeyError("The SP's private key cannot be opened with this SECRET_KEY (it was changed since the key "
                         "was made): restore the old secret key, or `sso sp-key rotate` and retire the old key.") \
            from None


# --- making a key ---------------------------------------------------------------------------------------------------

def fingerprint_of(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, as IdP consoles show it (AA:BB:…)."""
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _new_key_row(state: str) -> SpKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    now = utcnow()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"CRM SAML SP {now:%Y-%m-%d}")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365 * CERT_YEARS))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fingerprint = fingerprint_of(certificate)
    return SpKey(created=now, state=state, fingerprint=fingerprint,
                 certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
                 private_key_ciphertext=seal(pem, fingerprint))


def all_keys() -> list[SpKey]:
    """Every key we hold, the active one first."""
    rows = db.session.scalars(select(SpKey)).all()
    return sorted(rows, key=lambda k: (k.state != SP_KEY_ACTIVE, k.created, k.id))


def ensure_active_key() -> SpKey:
    """The active key, made (and committed) on first use. Two workers making it at once: the unique state index lets
    one win, and the other reads the winner's."""
    active = db.session.scalar(select(SpKey).where(SpKey.state == SP_KEY_ACTIVE))
    if active is not None:
        return active
    row = _new_key_row(SP_KEY_ACTIVE)
    try:
        with db.session.begin_nested():
            db.session.add(row)
        audit.record("sso.sp_key_created", f"Created the SP key {row.fingerprint[:23]}… (first use)", target=row,
                     details={"fingerprint": row.fingerprint})
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        row = db.session.scalar(select(SpKey).where(SpKey.state == SP_KEY_ACTIVE))
    return row


def published_certificates() -> tuple[str, ...]:
    """The certificate bodies (base64 DER) our metadata publishes, the active key's first; no private key is opened."""
    ensure_active_key()
    return tuple(PublishedKey(k.id, k.state, k.certificate_pem, "", k.fingerprint).certificate_body
                 for k in all_keys())


def encryption_certificates() -> tuple[str, ...]:
    """The certificate bodies our metadata publishes for encryption, the next key's first during a rollover: an IdP
    that encrypts for the first one it reads (SimpleSAMLphp does) moves to the new key as soon as it has the new
    metadata, so retiring the old key afterwards loses no sign-in (both keys decrypt until then)."""
    return tuple(reversed(published_certificates()))


def decryption_keys() -> tuple[DecryptionKey, ...]:
    """The keys an encrypted assertion may be opened with: every one we publish, none made here (an assertion
    encrypted while we hold no key must say so)."""
    return tuple(DecryptionKey(k.fingerprint, PublishedKey(k.id, k.state, k.certificate_pem, "", k.fingerprint)
                               .certificate_body, unseal(k.private_key_ciphertext, k.fingerprint).decode())
                 for k in all_keys())


def signing_key() -> PublishedKey:
    """The active key, which signs our requests (the next one signs nothing until the old one is retired)."""
    key = ensure_active_key()
    return PublishedKey(key.id, key.state, key.certificate_pem,
                        unseal(key.private_key_ciphertext, key.fingerprint).decode(), key.fingerprint)


def published_keys() -> tuple[PublishedKey, ...]:
    """The keys in our metadata, the active one (which signs) first; the active one is made on first use."""
    ensure_active_key()
    return tuple(PublishedKey(k.id, k.state, k.certificate_pem,
                              unseal(k.private_key_ciphertext, k.fingerprint).decode(), k.fingerprint)
                 for k in all_keys())


def rotate() -> SpKey:
    """Publish a next key beside the active one (the caller commits). Refused while a rollover is under way."""
    ensure_active_key()
    if pending := db.session.scalar(select(SpKey).where(SpKey.state == SP_KEY_NEXT)):
        raise SpKeyError(f"A rollover is already under way: key {pending.id} is published as next. Retire the old "
                         f"key first (`sso sp-key retire KEY_ID` with the active key's id).")
    row = _new_key_row(SP_KEY_NEXT)
    db.session.add(row)
    db.session.flush()
    audit.record("sso.sp_key_rotated", f"Published the next SP key {row.id} ({row.fingerprint[:23]}…) beside the "
                 "active one; requests are still signed with the active key", target=row,
                 details={"fingerprint": row.fingerprint})
    return row


def retire(key_id: int) -> SpKey:
    """Remove a key (the caller commits): the active one once a next key is published (which then signs), or a next
    key to call a rollover off. The last key is never removed: the IdPs would lose every key of ours."""
    row = db.session.get(SpKey, key_id)
    if row is None:
        raise SpKeyError(f"There is no SP key {key_id}; `sso sp-key list` shows their ids.")
    successor = db.session.scalar(select(SpKey).where(SpKey.state == SP_KEY_NEXT))
    if row.state == SP_KEY_ACTIVE and successor is None:
        raise SpKeyError(f"Key {key_id} is the only key: publish its successor first (`sso sp-key rotate`), then "
                         "retire it once the identity providers have the new metadata.")
    fingerprint = row.fingerprint
    db.session.delete(row)
    db.session.flush()
    if row.state == SP_KEY_ACTIVE:
        successor.state = SP_KEY_ACTIVE
        summary = (f"Retired the SP key {key_id} ({fingerprint[:23]}…); key {successor.id} now signs and is the only "
                   "one published")
    else:
        summary = f"Withdrew the next SP key {key_id} ({fingerprint[:23]}…): the rollover is called off"
    audit.record("sso.sp_key_retired", summary, target_type="SpKey", target_id=key_id, target_label=fingerprint,
                 details={"fingerprint": fingerprint, "successor": successor.id if successor else None})
    return successor or row


def listing() -> list[dict]:
    """`sso sp-key list --json`: id, created, state and fingerprint of every key, the active one first."""
    return [{"id": k.id, "created": k.created.isoformat(timespec="seconds"), "state": k.state,
             "fingerprint": k.fingerprint} for k in all_keys()]


# --- who has fetched our metadata -----------------------------------------------------------------------------------

def note_metadata_fetch(provider_id: int, address: str | None) -> None:
    """Remember that a provider's SP metadata was fetched now (one row per provider, so it never grows)."""
    for _ in range(2):  # a concurrent first fetch of the same provider inserts first: then update its row
        row = db.session.get(MetadataFetch, provider_id)
        if row is None:
            row = MetadataFetch(provider_id=provider_id, fetch_count=0)
            db.session.add(row)
        row.last_fetched_at = utcnow()
        row.fetch_count += 1
        row.last_address = (address or "")[:64] or None
        try:
            db.session.commit()
            return
        except IntegrityError:
            db.session.rollback()


def rollover_started() -> datetime | None:
    """When the next key was published, if a rollover is under way."""
    return db.session.scalar(select(SpKey.created).where(SpKey.state == SP_KEY_NEXT))


def metadata_fetches() -> dict[int, MetadataFetch]:
    """The last metadata fetch of each provider, by provider id."""
    return {row.provider_id: row for row in db.session.scalars(select(MetadataFetch))}
