"""One response under inspection, and what a check says of it: what every check of checks.py (and of
signatures.py) takes and returns."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C

from crm.identity_providers.certificates import CertificateInfo
from crm.identity_providers.config import ProviderConfig
from crm.provisioning.identity import SamlIdentity
from crm.sso.decryption import DecryptionKey
from crm.sso.xml import SAML


@dataclass(frozen=True)
class Finding:
    """What one check found: passed (True/False) or not run (None), in words for the admin; when it failed, the
    refusal code and the technical reason the ACS records."""

    passed: bool | None
    detail: str = ""
    hint: str | None = None
    code: str = "invalid"
    reason: str | None = None


def ok(detail: str = "") -> Finding:
    """A check that passed."""
    return Finding(True, detail)


def fail(code: str, reason: str, detail: str | None = None, hint: str | None = None) -> Finding:
    """A check that failed: `reason` for the audit trail, `detail` (default: the reason) for the report."""
    return Finding(False, detail or reason[0].upper() + reason[1:] + ".", hint, code, reason)


@dataclass
class Inspection:
    """One response under inspection: what it is checked against, and what the checks found in it."""

    config: ProviderConfig | None  # None only for the pre-checks, which read nothing of the provider
    encoded: str | None
    acs_url: str
    entity_id: str  # this SP's, for this provider
    request_id: str | None  # the AuthnRequest this browser has pending
    now: datetime
    request_known: bool = True  # False for a pasted response: which request it answers is not known here
    request_sent_at: datetime | None = None  # when this browser's AuthnRequest was sent (ForceAuthn's check)
    replay_lookup: Callable[[str], datetime | None] | None = None  # report only; the ACS's INSERT decides
    xml: bytes | None = None  # the decoded response (given when the ACS decoded it to decide on the re-post)
    root: object = None
    assertion: object = None
    verified_by: CertificateInfo | None = None
    identity: SamlIdentity | None = None
    friendly_names: dict[str, str] = field(default_factory=dict)
    not_on_or_after: datetime | None = None
    session_ends: datetime | None = None  # the assertion's SessionNotOnOrAfter
    idp_initiated: bool = False
    expired: bool = False
    decryption_keys: Callable[[], Sequence[DecryptionKey]] | None = None  # default: the SP keys we hold now
    decrypted_with: str | None = None  # the fingerprint of our key that opened an encrypted assertion
    received_root: object = None  # the response as it came, when its assertion was encrypted (root: decrypted)

    def bearer_data(self) -> list:
        """SubjectConfirmationData of the assertion's bearer confirmations (read from the one signed assertion)."""
        return [d for c in self.assertion.iterfind(f"{SAML}Subject/{SAML}SubjectConfirmation")
                if c.get("Method") == C.CM_BEARER and (d := c.find(f"{SAML}SubjectConfirmationData")) is not None]


@dataclass(frozen=True)
class Check:
    """A named check. `gate`: the checks after it need it to pass. `quiet`: a report shows it only when it fails."""

    key: str
    label: str
    run: Callable[[Inspection], Finding]
    gate: bool = False
    quiet: bool = False
