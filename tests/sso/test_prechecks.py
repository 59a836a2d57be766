"""The pre-checks refuse what python3-saml would spend time on before it could refuse it: no signature at all,
too many or too long attribute values. What they let through is exactly what the IdP posted."""
import base64
import textwrap

import pytest
from lxml import etree

from crm.sso import prechecks
from crm.sso.checks import CHECKS, Inspection, validate
from crm.sso.prechecks import MAX_VALUE_LENGTH, MAX_VALUES_PER_ATTRIBUTE
from crm.sso.rejections import SamlRejected
from tests.saml_signer import Spec, build_assertion, build_response, encode, sign, signed_response, to_xml
from tests.sso.conftest import nina

SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
DS = "{http://www.w3.org/2000/09/xmldsig#}"


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


def test_a_value_is_measured_with_all_its_text_and_the_first_attribute_over_a_limit_is_named():
    """A value's length is all the text inside it (child elements too), and the refusal names the attribute."""
    response = build_response(Spec(attributes={"groups": [str(i) for i in range(1500)], "jobtitle": "x"}))
    job = next(a for a in response.iter(f"{SAML}Attribute") if a.get("Name") == "jobtitle")
    value = job.find(f"{SAML}AttributeValue")
    value.text = "a" * 1000
    etree.SubElement(value, "{urn:example}part").text = "b" * 1000
    value[0].tail = "c" * (MAX_VALUE_LENGTH - 2000)
    job_first = encode(response)
    with pytest.raises(SamlRejected) as refused:
        precheck(job_first)
    assert refused.value.reason == f"attribute groups has 1500 values (limit {MAX_VALUES_PER_ATTRIBUTE})"
    value[0].tail += "c"  # one character over, split across three text nodes
    response.find(f".//{SAML}AttributeStatement").insert(0, job)  # now before the groups
    with pytest.raises(SamlRejected) as refused:
        precheck(encode(response))
    assert refused.value.reason == f"attribute jobtitle has a value over {MAX_VALUE_LENGTH} characters"


def _stuffed_after_signing(spec: Spec, **sign_options) -> etree._Element:
    """A response whose signed assertion gained an attribute after it was signed."""
    response = build_response(spec, assertion=sign(build_assertion(spec), **sign_options))
    statement = next(response.iter(f"{SAML}AttributeStatement"))
    junk = etree.SubElement(statement, f"{SAML}Attribute", Name="junk")
    for _ in range(100):
        etree.SubElement(junk, f"{SAML}AttributeValue").text = "x" * 1000
    return response


def _signatures(response: etree._Element) -> list:
    return list(prechecks.parse(to_xml(response)).iter(f"{DS}Signature"))


def test_the_digest_tells_content_changed_after_signing_and_passes_what_is_intact():
    """The quick digest look finds the stuffing, never faults an intact signature of the assertion or the response,
    and leaves a form it does not read (an InclusiveNamespaces list) to libxmlsec."""
    stuffed = _stuffed_after_signing(Spec(attributes=nina()))
    assert [prechecks.digest_differs(s) for s in _signatures(stuffed)] == [True]
    intact = build_response(Spec(attributes=nina(), sign_response=True))
    assert [prechecks.digest_differs(s) for s in _signatures(intact)] == [False, False]
    shibboleth = _stuffed_after_signing(Spec(attributes=nina()), inclusive_prefixes="xs")
    assert [prechecks.digest_differs(s) for s in _signatures(shibboleth)] == [False]


def test_content_changed_after_signing_is_refused_without_asking_libxmlsec(monkeypatch, entra, visitor):
    """Refused on its digest, as "signature", with the same words as a signature that no certificate verifies."""
    from crm.audit.models import AuditEvent
    from crm.extensions import db
    from crm.sso import signatures

    monkeypatch.setattr(signatures, "_verifies", lambda element, certificate: pytest.fail("libxmlsec was asked"))
    stuffed = _stuffed_after_signing(Spec(attributes=nina(), in_response_to=visitor.start()))
    refused = visitor.post(encode(stuffed))
    assert refused.status_code == 400 and "could not be verified" in refused.get_data(as_text=True)
    assert visitor.signed_in_as() is None
    reason = db.session.scalar(db.select(AuditEvent.reason).where(AuditEvent.outcome == "rejected"))
    assert reason == "signature: no configured certificate verifies the signature"
