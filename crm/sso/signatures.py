"""The signature check: which configured certificate verifies the response, and when none does, why (an expired
certificate, one this provider no longer lists, one it never listed, or content changed after signing).

One of the checks of checks.py; on its own here because it is the largest and the only one that holds keys.
"""
from __future__ import annotations

from datetime import datetime

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C

from crm.identity_providers.certificate_history import RemovedCertificate
from crm.identity_providers.certificates import CertificateInfo, CertificateInvalid, parse_certificate
from crm.identity_providers.config import ProviderConfig
from crm.sso import prechecks
from crm.sso.inspection import Finding, Inspection, fail, ok
from crm.sso.xml import DS
from crm.sso.xmlsec_keys import loaded_key


def check_signature(ins: Inspection) -> Finding:
    """The assertion (and the response, when it is signed too) verifies with a configured certificate; no SHA-1."""
    signed = [s.getparent() for s in ins.root.iter(f"{DS}Signature")]
    if ins.assertion not in signed:
        return fail("signature", "the assertion is not signed", "The assertion is not signed.",
                    "Set the IdP to sign the assertion (Entra: 'Sign SAML assertion'; AD FS: the default).")
    if len(signed) != len(set(signed)) or len({e.get("ID") for e in signed}) != len(signed):
        return fail("signature", "an element is signed twice, or two signed elements share an ID")
    algorithms = [n.get("Algorithm") for tag in ("SignatureMethod", "DigestMethod") for n in ins.root.iter(DS + tag)]
    if deprecated := [a for a in algorithms if a in C.DEPRECATED_ALGORITHMS]:
        return fail("deprecated_algorithm", f"signed with SHA-1 ({', '.join(deprecated)})",
                    "Signed with SHA-1: " + ", ".join(map(str, algorithms)),
                    "SHA-1 is refused. Switch the IdP's signing algorithm to SHA-256.")
    signed = _as_signed(ins, signed)
    named = _keyinfo_body(ins.assertion)
    if _changed_after_signing(ins, signed):
        return _plainly_bad(ins, named)  # no certificate can verify it: none is tried
    ins.verified_by = next((c for c in _candidates(ins.config, ins.now, named)
                            if all(_verifies(e, c) for e in signed)), None)
    if ins.verified_by is None:
        return _unverified(ins, signed, named)
    return ok(f"Verified with the configured certificate {ins.verified_by.subject} "
              f"(SHA-256 {ins.verified_by.fingerprint_sha256}).")


def _as_signed(ins: Inspection, signed: list) -> list:
    """The signed elements as their signatures were made. An IdP that encrypts the assertion signs the Response
    afterwards, around the EncryptedAssertion (SimpleSAMLphp by default): the Response is verified as it came, the
    assertion as decrypted (it was signed before it was encrypted)."""
    for root in (ins.root, ins.received_root):
        if root is not None:
            xmlsec.tree.add_ids(root, ["ID"])  # the References point at the elements' IDs
    if ins.received_root is None:
        return signed
    return [ins.received_root if element is ins.root else element for element in signed]


def _unverified(ins: Inspection, signed: list, named: str | None) -> Finding:
    """Why no configured certificate verifies: the IdP signed with the key of a listed certificate that has expired,
    or with a certificate this provider no longer lists (or never did) that the response carries; else the signature
    is plainly wrong. Each is verified, never guessed from the KeyInfo, and none of them ever signs anyone in."""
    expired = next((c for c in ins.config.certificates
                    if c.not_after <= ins.now and all(_verifies(e, c) for e in signed)), None)
    if expired is not None:
        return fail("signature", f"signed with an expired certificate ({expired.fingerprint_sha256}, expired on "
                                 f"{expired.not_after:%Y-%m-%d})",
                    f"Signed with the certificate {expired.subject} (SHA-256 {expired.fingerprint_sha256}), which "
                    f"expired on {expired.not_after:%Y-%m-%d}; an expired certificate is never used.",
                    "The IdP still signs with its old key: activate its new certificate there, then refresh the "
                    "provider's metadata (or add the new certificate here).")
    carried = _carried_certificate(named)
    listed = {c.fingerprint_sha256 for c in ins.config.certificates}
    if carried is not None and carried.fingerprint_sha256 not in listed:
        removed = next((r for r in ins.config.removed_certificates
                        if r.fingerprint_sha256 == carried.fingerprint_sha256), None)
        # Only a certificate the provider once listed is tried (its key was the IdP's): a key the sender chose is
        # never handed to OpenSSL, which would let anyone buy seconds of RSA work with a crafted exponent.
        if removed is None:
            return _never_listed(ins.config, carried, ins.now)
        if _ordinary_key(carried) and all(_verifies(e, carried) for e in signed):
            return _no_longer_listed(ins.config, carried, removed, ins.now)
    return _plainly_bad(ins, named)


def _plainly_bad(ins: Inspection, named: str | None) -> Finding:
    """No configured certificate verifies the signature, and nothing more can be said of it."""
    configured = "; ".join(c.fingerprint_sha256 for c in ins.config.certificates)
    return fail("signature", "no configured certificate verifies the signature",
                "No configured certificate verifies this signature.",
                f"Wrong certificate? The response's KeyInfo carries {_keyinfo_fingerprint(ins, named)} "
                f"; configured: {configured}. Download the IdP's current signing certificate and add it.")


def _no_longer_listed(config: ProviderConfig, carried: CertificateInfo, removed: RemovedCertificate,
                      now: datetime) -> Finding:
    """A signature verified with a certificate the provider had and no longer lists: the IdP still signs with the key
    it rolled away from (never accepted: only named)."""
    fingerprint = carried.fingerprint_sha256
    ran_out = f"; it expired on {carried.not_after:%Y-%m-%d}" if carried.expired(now) else ""
    how = "The IdP's metadata no longer publishes it" if removed.by_refresh else "It was removed here by hand"
    return fail("signature", f"signed with a certificate this provider no longer lists: {fingerprint} "
                             f"({removed.words()}{ran_out})",
                f"Signed with the certificate {carried.subject} (SHA-256 {fingerprint}), which this provider no "
                f"longer lists: {removed.words()}{ran_out}. A certificate the response carries is never trusted by "
                "itself.",
                f"The IdP still signs with its old key. {how}: the IdP admin must switch signing to the current "
                f"certificate; then refresh the provider's metadata (`sso refresh {config.slug}`) or update its "
                "certificates here.")


def _never_listed(config: ProviderConfig, carried: CertificateInfo, now: datetime) -> Finding:
    """No configured certificate verifies, and the response carries one this provider never listed. Whether its key
    made the signature is not checked (anyone can put a certificate in a response), so it is named as carried."""
    fingerprint = carried.fingerprint_sha256
    ran_out = f"; it expired on {carried.not_after:%Y-%m-%d}" if carried.expired(now) else ""
    return fail("signature", f"no configured certificate verifies the signature; the response carries a certificate "
                             f"this provider does not list: {fingerprint} ({carried.subject}, valid to "
                             f"{carried.not_after:%Y-%m-%d}{ran_out})",
                f"No configured certificate verifies this signature. The response carries the certificate "
                f"{carried.subject} (SHA-256 {fingerprint}, valid to {carried.not_after:%Y-%m-%d}{ran_out}), which "
                "this provider does not list; anyone can put a certificate in a response, so it is never trusted "
                "and was not tried.",
                f"Wrong certificate? The response carries {fingerprint}; configured: "
                f"{'; '.join(c.fingerprint_sha256 for c in config.certificates)}. If "
                f"the IdP rolled its signing key, update the metadata (`sso refresh {config.slug}`, or import the "
                "IdP's current metadata). Add a certificate by hand only after comparing its fingerprint with the one "
                "the IdP admin reads from the IdP itself, never from a response.")


def _ordinary_key(certificate: CertificateInfo) -> bool:
    """An RSA key of at most 4096 bits with the exponent 65537, or an EC key on a named curve: what IdPs sign with."""
    key = x509.load_pem_x509_certificate(certificate.pem.encode()).public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return key.key_size <= 4096 and key.public_numbers().e == 65537
    return isinstance(key, ec.EllipticCurvePublicKey)


def _carried_certificate(body: str | None) -> CertificateInfo | None:
    """The certificate in the signature's KeyInfo, read (never trusted) to name what the IdP signed with."""
    if not body:
        return None
    try:
        return parse_certificate(body)
    except CertificateInvalid:
        return None


def _changed_after_signing(ins: Inspection, signed: list) -> bool:
    """Whether a large response was changed after it was signed, told from its digests alone: libxmlsec would find
    the same (no certificate verifies it) at three times the cost. A response of a real IdP's size is left to
    libxmlsec alone, where the look would only add to a valid sign-in."""
    return len(ins.xml or b"") >= prechecks.QUICK_DIGEST_FROM and any(
        prechecks.digest_differs(element.find(f"{DS}Signature")) for element in signed)  # each in its own document


def _keyinfo_body(signed) -> str | None:
    """The base64 certificate the signature's KeyInfo names (the IdP's hint, never trusted as a key)."""
    node = signed.find(f"{DS}Signature/{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate")
    return "".join((node.text or "").split()) if node is not None else None


def _keyinfo_fingerprint(ins: Inspection, named: str | None) -> str:
    """The fingerprint of the certificate the KeyInfo names: a configured one's as known (when the content was
    changed after signing, it usually is), else read from the response."""
    known = next((c.fingerprint_sha256 for c in ins.config.certificates if named and c.body == named), None)
    return known or prechecks.keyinfo_fingerprint(ins.assertion)


def _candidates(config: ProviderConfig, now: datetime, named: str | None) -> list[CertificateInfo]:
    """The certificates a signature may verify with: every one not expired, the one the KeyInfo names first, so a
    valid response costs one verification however many certificates the IdP publishes."""
    current = [c for c in config.certificates if c.not_after > now]
    if named and len(current) > 1:
        current.sort(key=lambda c: c.body != named)
    return current


def _verifies(element, certificate: CertificateInfo) -> bool:
    """What OneLogin_Saml2_Utils.validate_node_sign does, with the certificate's key loaded once per thread."""
    context = xmlsec.SignatureContext()
    context.key = loaded_key(certificate.fingerprint_sha256, certificate.pem, xmlsec.KeyFormat.CERT_PEM)
    context.set_enabled_key_data([xmlsec.KeyData.X509])
    try:
        context.verify(element.find(f"{DS}Signature"))
    except xmlsec.Error:  # any xmlsec error means: not verified with this certificate
        return False
    return True
