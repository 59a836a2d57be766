"""Why the SAML layer refuses a response: a code, words for the user, the technical reason, an HTTP status."""
from __future__ import annotations

USER_MESSAGES = {
    "malformed": "The sign-in response from your identity provider could not be read.",
    "too_large": "The sign-in response from your identity provider is too large.",
    "transform": "The sign-in response from your identity provider was refused for safety reasons.",
    "signature": "The sign-in response could not be verified: its signature does not match the identity provider's "
                 "certificate. Ask your administrator.",
    "deprecated_algorithm": "Your identity provider signs with SHA-1, which is no longer accepted. Ask your "
                            "administrator to switch the identity provider to SHA-256.",
    "encryption": "The sign-in response is not encrypted as this CRM and your identity provider agreed (an old key, "
                  "or none). Ask your administrator.",
    "expired": "The sign-in took too long or a clock is off. Please try again.",
    "audience": "The sign-in response was meant for another application.",
    "recipient": "The sign-in response was sent to another address.",
    "issuer": "The sign-in response came from an identity provider this CRM does not trust here.",
    "status": "Your identity provider did not sign you in.",
    "unsolicited": "This CRM did not start that sign-in. Please start again from the login page.",
    "reauthentication": "Your identity provider did not ask you to sign in again, as this CRM requires. Please try "
                        "again, or ask your administrator.",
    "replay": "This sign-in response was already used. Please sign in again.",
    "limits": "Your identity provider sent more data than the CRM accepts. Ask your administrator.",
    "disabled": "Sign-in through this identity provider is switched off. Ask your administrator.",
    "look_alike": "Your user name at the identity provider mixes letters of different alphabets (such as a Cyrillic "
                  "“а” among Latin letters), which this CRM refuses. Ask your administrator.",
    "invalid": "The sign-in response is not valid. Ask your administrator.",
    "sp_key": "This CRM cannot use its own signing key right now. Ask your administrator.",
}


class SamlRejected(Exception):
    """A response that does not sign anyone in. `unread`: it never parsed (no message, not base64, not deflated,
    not XML, a DTD, over the size cap): garbage goes to the log, not to the audit trail."""

    def __init__(self, code: str, reason: str, status: int = 400, *, unread: bool = False):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.status = status
        self.unread = unread

    @property
    def message(self) -> str:
        """Plain words for the user."""
        return USER_MESSAGES.get(self.code, USER_MESSAGES["invalid"])
