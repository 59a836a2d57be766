"""A hostile response costs no more than a valid one: each case of SAML-SECURITY.md's XSLT and oversized rows is
posted to the ACS and timed beside a valid returning user's sign-in in the same run.

Every case is built (and, where the attack needs it, signed) before timing. For the XSLT case the bare library is
timed once on the same payload too: that is the cost the pre-check keeps off the server.
"""
from __future__ import annotations

import time

from lxml import etree

from bench.sso_cost import _people, _setup, _time, form_body, post_as_browser, summary
from tests.saml_signer import build_response, encode, signed_response

DS = "http://www.w3.org/2000/09/xmldsig#"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"

# Nested loops over every element: cubic in the document's size, run by libxmlsec before any signature check.
XSLT = ('<ds:Transform xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Algorithm="http://www.w3.org/TR/1999/REC-xslt-'
        '19991116"><xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template '
        'match="/"><xsl:for-each select="//node()"><xsl:for-each select="//node()"><xsl:for-each select="//node()">'
        '<xsl:value-of select="name()"/></xsl:for-each></xsl:for-each></xsl:for-each></xsl:template>'
        '</xsl:stylesheet></ds:Transform>')


def _with_xslt(spec) -> str:
    """A correctly signed response whose signature Reference also carries an XSLT transform."""
    response = build_response(spec)
    transforms = next(response.iter(f"{{{DS}}}Transforms"))
    transforms.insert(0, etree.fromstring(XSLT))
    return encode(response)


def _stuffed(spec, signed: bool, size: int = 250 * 1024) -> str:
    """Just under the size cap, stuffed with attribute values: unsigned, or signed and then stuffed (so the
    signature no longer matches and only the library's full check can tell)."""
    values = ["x" * 1000] * (size * 3 // 4 // 1100)
    if not signed:
        return encode(build_response(spec.but(sign_assertion=False, attributes={"junk": values})))
    response = build_response(spec)
    statement = next(response.iter(f"{{{SAML}}}AttributeStatement"))
    junk = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name="junk")
    for value in values:
        etree.SubElement(junk, f"{{{SAML}}}AttributeValue").text = value
    return encode(response)


def _signed_with(spec, **attributes) -> str:
    return signed_response(spec.but(attributes=spec.attributes | attributes))


CASES = {
    "XSLT transform in the signature": lambda spec: _with_xslt(spec),
    "body over the 256 KB cap": lambda spec: "A" * (300 * 1024),
    "250 KB unsigned body (under the cap)": lambda spec: _stuffed(spec, signed=False),
    "250 KB body, signature broken by the stuffing": lambda spec: _stuffed(spec, signed=True),
    "attribute value of 5,000 characters": lambda spec: _signed_with(spec, jobtitle="x" * 5000),
    "1,500 group values": lambda spec: _signed_with(spec, g=[str(i) for i in range(1500)]),
}


def run(database_url: str, count: int = 50) -> dict:
    """Median and p95 of each refusal through the ACS, beside a valid returning user's sign-in."""
    from onelogin.saml2.auth import OneLogin_Saml2_Auth

    from crm.identity_providers.config import provider_config
    from crm.sso.settings import saml_settings

    app = _setup(database_url)
    client = app.test_client()

    def post(bodies: tuple[bytes, bytes], expect: int):
        post_as_browser(app, client, bodies, expect)

    people = _people("hostile", count)
    for spec in people:
        post(form_body(signed_response(spec)), 302)
    valid = [form_body(signed_response(s)) for s in people]
    cases = {name: [form_body(build(spec)) for spec in people] for name, build in CASES.items()}
    results = {"valid_sign_in": summary(_time(lambda b: post(b, 302), valid)), "cases": {}}
    for name, bodies in cases.items():
        timed = summary(_time(lambda b: post(b, 400), bodies))
        timed["ratio_to_valid"] = round(timed["median_ms"] / results["valid_sign_in"]["median_ms"], 2)
        timed["within_valid"] = timed["p95_ms"] <= results["valid_sign_in"]["p95_ms"] or timed["ratio_to_valid"] <= 1
        results["cases"][name] = timed
    with app.app_context():
        settings = saml_settings(provider_config("bench"))
    data = {"https": "off", "http_host": "localhost", "script_name": "/sso/bench/acs", "get_data": {},
            "post_data": {"SAMLResponse": _with_xslt(people[0])}}
    started = time.perf_counter()
    OneLogin_Saml2_Auth(data, old_settings=settings).process_response()
    results["xslt_in_bare_library_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return results


def report_lines(results: dict) -> list[str]:
    valid = results["valid_sign_in"]
    lines = ["## A hostile response costs no more than a valid one (ms)", "",
             f"A valid returning user's sign-in: median {valid['median_ms']}, p95 {valid['p95_ms']}.", "",
             "| hostile response | median | p95 | × valid | refused within a valid sign-in's time |",
             "|---|---|---|---|---|"]
    for name, r in results["cases"].items():
        lines.append(f"| {name} | {r['median_ms']} | {r['p95_ms']} | {r['ratio_to_valid']} | "
                     f"{'yes' if r['within_valid'] else 'NO'} |")
    lines += ["", f"The same XSLT payload in bare python3-saml (no pre-check): {results['xslt_in_bare_library_ms']} ms "
                  "for one response."]
    return lines


if __name__ == "__main__":
    import json
    import tempfile
    from pathlib import Path

    print(json.dumps(run(f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.sqlite3'}", 20), indent=2))
