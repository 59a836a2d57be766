"""The pre-checks refuse what python3-saml would spend time on before it could refuse it: no signature at all,
too many or too long attribute values. What they let through is exactly what the IdP posted."""
import base64
import textwrap

import pytest

from crm.sso import prechecks
from crm.sso.checks import CHECKS, Inspection, validate
from crm.sso.prechecks import MAX_VALUE_LENGTH, MAX_VALUES_PER_ATTRIBUTE
from crm.sso.rejections import SamlRejected
from tests.saml_signer import Spec, build_response, encode, signed_response, to_xml


def precheck(saml_response: str) -> bytes:
    """The ACS's first three checks (size and encoding, signature form, limits): the decoded XML when they pass."""
    ins = Inspection(None, saml_response, "", "", None, None)
    validate(ins, tuple(c for c in CHECKS if c.key in ("encoding", "transforms", "limits")))
    return ins.xml


def _code(payload: str) -> str:
    with pytest.raises(SamlRejected) as refused:
        precheck(payload)
    return refused.value.code


def test_a_response_without_any_signature_is_refused_before_the_library_runs(monkeypatch):
    monkeypatch.setattr(prechecks, "check_attribute_limits", lambda root: pytest.fail("went past the signature"))
    assert _code(encode(build_response(Spec(sign_assertion=False)))) == "signature"


@pytest.mark.parametrize("attributes", [
    {"groups": [str(i) for i in range(MAX_VALUES_PER_ATTRIBUTE + 1)]},
    {"jobtitle": "x" * (MAX_VALUE_LENGTH + 1)},
    {f"claim{i}": "v" for i in range(prechecks.MAX_ATTRIBUTES + 1)},
])
def test_too_many_or_too_long_values_are_refused_before_the_signature_is_checked(attributes):
    assert _code(signed_response(Spec(attributes=attributes))) == "limits"


def test_values_at_the_limits_pass():
    payload = signed_response(Spec(attributes={"groups": ["g"] * MAX_VALUES_PER_ATTRIBUTE,
                                               "jobtitle": "x" * MAX_VALUE_LENGTH}))
    assert precheck(payload) == base64.b64decode(payload)


def test_base64_wrapped_in_lines_as_some_idps_post_it_is_accepted():
    xml = to_xml(build_response(Spec()))
    wrapped = "\r\n".join(textwrap.wrap(base64.b64encode(xml).decode(), 76)) + "\n\t "
    assert precheck(wrapped) == xml
    assert _code(wrapped.replace("A", "*", 1)) == "malformed"
