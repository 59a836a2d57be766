"""pysaml2 as a real third-party IdP, in three roles: it answers an AuthnRequest id with a signed (then, by default,
encrypted) assertion exactly as pysaml2 makes it (its own namespace prefixes inside the EncryptedAssertion); it
publishes its IdP metadata (saml2.metadata.create_metadata_string), with the certificates of a key rollover
(`additional_cert_files`); and it parses and verifies our AuthnRequest as its IdP does (Server.parse_authn_request
with want_authn_requests_signed, the HTTP-Redirect query signature or the HTTP-POST XML signature, checked against the
signing certificates of our SP metadata).

pysaml2 7.5 needs an older `cryptography` than the console's, so it lives in a venv of its own (`make
pysaml2`, with Debian's xmlsec1, which pysaml2 signs and encrypts with) and runs as a child process:
    .venv-pysaml2/bin/python tests/pysaml2_idp.py < request.json > SAMLResponse.b64
The request (JSON): idp_entity_id, sp_metadata, sp_entity_id, acs, in_response_to, name_id, attributes,
idp_key_pem, idp_cert_pem; optional encrypt (default true) and content (the content encryption algorithm: pysaml2
encrypts with 3DES-CBC unless told otherwise, as its own pre_encryption_part lets an IdP choose).
A JSON list of jobs instead runs each in the one process (a child costs about half a second) and prints a JSON list:
each job's `mode` is "response" (the default: as above, the base64 SAMLResponse), "metadata" (idp_entity_id,
idp_key_pem, idp_cert_pem: the certificate it signs with, optional also_published: the other certificates of a
rollover; the EntityDescriptor XML) or "authn_request" (idp_entity_id, sso_url, sp_metadata, binding "redirect" or
"post", saml_request and, for redirect, sig_alg, signature, relay_state: {"verified", "error", "id", "issuer"}; with
`answer` (name_id, attributes, encrypt), a verified request is answered too, and a refused one gets pysaml2's error
Response: "saml_response").
"""
from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path

PYSAML2_PYTHON = Path(__file__).resolve().parent.parent / ".venv-pysaml2" / "bin" / "python"


def _config(request: dict, folder: Path):
    """pysaml2's IdP configuration: its entity ID and SSO URL (both bindings), its key and certificate (and the other
    certificates it publishes), our SP metadata when the job has it, and requests wanted signed."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.saml import NAMEID_FORMAT_EMAILADDRESS

    (folder / "idp.key").write_text(request["idp_key_pem"])
    (folder / "idp.crt").write_text(request["idp_cert_pem"])
    also = []
    for n, pem in enumerate(request.get("also_published") or []):
        (folder / f"also-{n}.crt").write_text(pem)
        also.append(str(folder / f"also-{n}.crt"))
    metadata = {}
    if request.get("sp_metadata"):
        (folder / "sp.xml").write_text(request["sp_metadata"])
        metadata = {"local": [str(folder / "sp.xml")]}
    sso_url = request.get("sso_url") or request["idp_entity_id"] + "/sso"
    return IdPConfig().load({
        "entityid": request["idp_entity_id"],
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [(sso_url, BINDING_HTTP_REDIRECT), (sso_url, BINDING_HTTP_POST)]},
            "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            "want_authn_requests_signed": True,
            "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                   "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}},
        }},
        "key_file": str(folder / "idp.key"), "cert_file": str(folder / "idp.crt"),
        "additional_cert_files": also or None,
        "metadata": metadata,
        "xmlsec_binary": "/usr/bin/xmlsec1",
    })


def respond(request: dict) -> str:
    """The base64 SAMLResponse pysaml2's IdP posts for this request."""
    from saml2.server import Server

    server = Server(config=_config(request, Path(tempfile.mkdtemp())))
    return _authn_response(server, request, request["in_response_to"], request["acs"], request["sp_entity_id"])


def _authn_response(server, request: dict, in_response_to: str | None, acs: str, sp_entity_id: str) -> str:
    """pysaml2's signed (and, unless `encrypt` is false, encrypted) answer for the user the request names."""
    from saml2 import BINDING_HTTP_POST
    from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
    from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

    if request.get("content"):  # pysaml2's own hook for the algorithm; everything else is pysaml2 as shipped
        import functools

        import saml2.entity

        saml2.entity.pre_encryption_part = functools.partial(saml2.entity.pre_encryption_part,
                                                             msg_enc=request["content"])
        session_key = "aes-" + request["content"].rsplit("#aes", 1)[1][:3]  # xmlsec1 --session-key aes-256
        server.sec.encrypt_assertion = functools.partial(server.sec.encrypt_assertion, key_type=session_key)
    encrypt = request.get("encrypt", True)
    response = server.create_authn_response(
        identity={k: v if isinstance(v, list) else [v] for k, v in request["attributes"].items()},
        in_response_to=in_response_to, destination=acs, sp_entity_id=sp_entity_id,
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=request["name_id"]),
        authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
        sign_response=False, sign_assertion=True, encrypt_assertion=encrypt,
        encrypt_assertion_self_contained=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
        binding=BINDING_HTTP_POST,
    )
    return base64.b64encode(str(response).encode()).decode()


def metadata(request: dict) -> str:
    """pysaml2's own IdP metadata (EntityDescriptor) for this configuration, every published certificate in it."""
    from saml2.metadata import create_metadata_string

    published = create_metadata_string(None, config=_config(request, Path(tempfile.mkdtemp())))
    return published.decode() if isinstance(published, bytes) else published


def verify_authn_request(request: dict) -> dict:
    """What pysaml2's IdP makes of our AuthnRequest: verified (signature, Destination, time) or why not."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.server import Server

    server = Server(config=_config(request, Path(tempfile.mkdtemp())))
    redirect = request["binding"] == "redirect"
    try:
        parsed = server.parse_authn_request(request["saml_request"], BINDING_HTTP_REDIRECT if redirect
                                            else BINDING_HTTP_POST, relay_state=request.get("relay_state"),
                                            sigalg=request.get("sig_alg"), signature=request.get("signature"))
    except Exception as error:  # pysaml2 raises IncorrectlySigned, OtherError ...: the IdP's refusal, in words
        refused = {"verified": False, "error": f"{type(error).__name__}: {error}", "id": None, "issuer": None}
        if request.get("answer"):
            refused["saml_response"] = _error_response(server, request, error)
        return refused
    if parsed is None or not parsed.message:
        return {"verified": False, "error": "not verified", "id": None, "issuer": None}
    message = parsed.message
    verified = {"verified": True, "error": None, "id": message.id, "issuer": message.issuer.text}
    if request.get("answer"):  # only a verified request is answered, at the ACS URL it names
        verified["saml_response"] = _authn_response(server, request["answer"], message.id,
                                                    message.assertion_consumer_service_url, message.issuer.text)
    return verified


def _error_response(server, request: dict, error: Exception) -> str:
    """pysaml2's own error Response for a request it refused (create_error_response turns its exception into the
    status), sent to the ACS URL the request names, as pysaml2 makes it: unsigned, without an assertion."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.samlp import authn_request_from_string

    binding = BINDING_HTTP_REDIRECT if request["binding"] == "redirect" else BINDING_HTTP_POST
    refused = authn_request_from_string(server.unravel(request["saml_request"], binding, "authn_request"))
    response = server.create_error_response(refused.id, refused.assertion_consumer_service_url, error)
    return base64.b64encode(str(response).encode()).decode()


MODES = {"response": respond, "metadata": metadata, "authn_request": verify_authn_request}


def _run(payload: str) -> str:
    """Run pysaml2 in its own venv (from the test suite) on a JSON payload; return what it printed."""
    import subprocess

    if not PYSAML2_PYTHON.exists():
        raise RuntimeError(f"{PYSAML2_PYTHON} is missing: run `make pysaml2` (pysaml2 and Debian's xmlsec1)")
    done = subprocess.run([str(PYSAML2_PYTHON), __file__], input=payload, capture_output=True,
                          text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pysaml2 failed: {done.stderr[-2000:]}")
    return done.stdout.strip()


def pysaml2_response(request: dict) -> str:
    """Run pysaml2 in its own venv (from the test suite) and return its SAMLResponse."""
    return _run(json.dumps(request))


def pysaml2_jobs(jobs: list[dict]) -> list:
    """Run several jobs (responses, metadata, AuthnRequest checks) in one pysaml2 process; their results in order."""
    return json.loads(_run(json.dumps(jobs)))


if __name__ == "__main__":
    given = json.load(sys.stdin)
    if isinstance(given, list):
        print(json.dumps([MODES[job.get("mode", "response")](job) for job in given]))
    else:
        print(respond(given))
