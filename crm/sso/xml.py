"""The SAML namespaces and the small readers every check shares."""
from __future__ import annotations

import re
from datetime import UTC, datetime

from onelogin.saml2.utils import OneLogin_Saml2_Utils

SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"


def element_text(node) -> str | None:
    """An element's text as python3-saml reads it (comments were removed when the response was parsed)."""
    return None if node is None else node.text


def parse_time(value: str | None) -> datetime | None:
    """A SAML timestamp as naive UTC, read as python3-saml reads it: the forms its parser accepts, fractions of a
    second ignored. (The common forms are read directly: its strptime took a tenth of a check's time.)"""
    if not value:
        return None
    if _SAML_TIME.match(value):
        return datetime.fromisoformat(value[:19])
    return datetime.fromtimestamp(OneLogin_Saml2_Utils.parse_SAML_to_time(value), UTC).replace(tzinfo=None)


_SAML_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d*)?Z?\Z", re.ASCII)  # TIME_FORMAT_WITH_FRAGMENT
