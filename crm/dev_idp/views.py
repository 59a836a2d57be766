"""The demo IdP's pages: pick a person, edit what the IdP sends, and post a signed response to the ACS."""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from crm.dev_idp.keys import ensure_key_pair
from crm.dev_idp.people import PEOPLE, PEOPLE_BY_KEY
from crm.dev_idp.responses import signed_response
from crm.sso.settings import sp_urls

bp = Blueprint("dev_idp", __name__, url_prefix="/dev-idp")
DEMO_SLUG = "demo"
SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"


def idp_urls() -> dict[str, str]:
    """The demo IdP's Entity ID and sign-on URL."""
    base = current_app.config["BASE_URL"]
    return {"entity_id": f"{base}/dev-idp/metadata", "sso": f"{base}/dev-idp/sso"}


def _authn_request(encoded: str) -> dict[str, str | None]:
    """ID, Issuer and ACS URL of an AuthnRequest sent by HTTP-Redirect; only this CRM's ACS URLs are served."""
    try:
        xml = OneLogin_Saml2_Utils.decode_base64_and_inflate(encoded)
        root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    except Exception:
        abort(400, "The SAMLRequest could not be read.")
    acs = root.get("AssertionConsumerServiceURL") or ""
    base = current_app.config["BASE_URL"]
    if not acs.startswith(f"{base}/sso/") or not acs.endswith("/acs"):
        abort(400, "The demo identity provider only signs in to this CRM.")
    issuer = root.find(f"{SAML}Issuer")
    return {"id": root.get("ID"), "acs": acs, "audience": issuer.text if issuer is not None else None}


def _unsolicited() -> dict[str, str | None]:
    urls = sp_urls(DEMO_SLUG)
    return {"id": None, "acs": urls["acs"], "audience": urls["entity_id"]}


def attribute_lines(attributes: dict[str, tuple[str, ...]]) -> str:
    """Attributes as editable text: one `Name = value` line per value."""
    return "\n".join(f"{name} = {value}" for name, values in attributes.items() for value in values)


def parse_attribute_lines(text: str) -> dict[str, tuple[str, ...]]:
    """The inverse of attribute_lines; lines without ` = ` are ignored."""
    parsed: dict[str, list[str]] = {}
    for line in (text or "").splitlines():
        if "=" in line:
            name, value = (part.strip() for part in line.split("=", 1))
            if name:
                parsed.setdefault(name, []).append(value)
    return {name: tuple(values) for name, values in parsed.items()}


@bp.get("/sso")
def sso():
    """Sign-in page of the demo IdP: SP-initiated (with a SAMLRequest) or from its portal (without)."""
    saml_request = request.args.get("SAMLRequest")
    target = _authn_request(saml_request) if saml_request else _unsolicited()
    person = PEOPLE_BY_KEY.get(request.args.get("person", ""), PEOPLE[0])
    return render_template("dev_idp/sso.html", people=PEOPLE, person=person, target=target,
                           relay_state=request.args.get("RelayState", ""), lines=attribute_lines(person.attributes))


@bp.post("/sso")
def respond():
    """Sign a response for the chosen person and post it to the CRM's ACS (a self-submitting form)."""
    base = current_app.config["BASE_URL"]
    acs = request.form.get("acs", "")
    if not acs.startswith(f"{base}/sso/") or not acs.endswith("/acs"):
        abort(400, "The demo identity provider only signs in to this CRM.")
    name_id = request.form.get("name_id", "").strip()
    if not name_id:
        abort(400, "Enter the NameID (the username the CRM will use).")
    key, cert = ensure_key_pair(current_app.instance_path)
    saml_response = signed_response(
        issuer=idp_urls()["entity_id"], audience=request.form.get("audience") or acs.rsplit("/", 1)[0] + "/metadata",
        acs_url=acs, name_id=name_id, attributes=parse_attribute_lines(request.form.get("attributes", "")),
        in_response_to=request.form.get("request_id") or None, key=key, cert=cert)
    return render_template("dev_idp/post.html", acs=acs, saml_response=saml_response,
                           relay_state=request.form.get("relay_state", ""))


@bp.get("/metadata")
def metadata():
    """The demo IdP's metadata (what an admin would import)."""
    _, cert = ensure_key_pair(current_app.instance_path)
    body = "".join(line for line in cert.splitlines() if "-----" not in line)
    urls = idp_urls()
    xml = render_template("dev_idp/metadata.xml", entity_id=urls["entity_id"], sso_url=urls["sso"], cert=body)
    return Response(xml, mimetype="application/samlmetadata+xml")

