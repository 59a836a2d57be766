"""pysaml2 as a real third-party IdP: reads our SP metadata, answers an AuthnRequest id with a signed, then
encrypted assertion, exactly as pysaml2 makes it (its own namespace prefixes inside the EncryptedAssertion).

pysaml2 7.5 needs an older `cryptography` than the console's, so it lives in a venv of its own (`make
pysaml2`, with Debian's xmlsec1, which pysaml2 signs and encrypts with) and runs as a child process:
    .venv-pysaml2/bin/python tests/pysaml2_idp.py < request.json > SAMLResponse.b64
The request (JSON): idp_entity_id, sp_metadata, sp_entity_id, acs, in_response_to, name_id, attributes,
idp_key_pem, idp_cert_pem; optional encrypt (default true) and content (the content encryption algorithm: pysaml2
encrypts with 3DES-CBC unless told otherwise, as its own pre_encryption_part lets an IdP choose).
"""
from __future__ import annotations

import base64
import json
import sys
import tempfile
from pathlib import Path

PYSAML2_PYTHON = Path(__file__).resolve().parent.parent / ".venv-pysaml2" / "bin" / "python"


def respond(request: dict) -> str:
    """The base64 SAMLResponse pysaml2's IdP posts for this request."""
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
    from saml2.config import IdPConfig
    from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NameID
    from saml2.server import Server
    from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

    folder = Path(tempfile.mkdtemp())
    (folder / "idp.key").write_text(request["idp_key_pem"])
    (folder / "idp.crt").write_text(request["idp_cert_pem"])
    (folder / "sp.xml").write_text(request["sp_metadata"])
    config = IdPConfig().load({
        "entityid": request["idp_entity_id"],
        "service": {"idp": {
            "endpoints": {"single_sign_on_service": [(request["idp_entity_id"] + "/sso", BINDING_HTTP_REDIRECT)]},
            "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
            "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None,
                                   "name_form": "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"}},
        }},
        "key_file": str(folder / "idp.key"), "cert_file": str(folder / "idp.crt"),
        "metadata": {"local": [str(folder / "sp.xml")]},
        "xmlsec_binary": "/usr/bin/xmlsec1",
    })
    server = Server(config=config)
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
        in_response_to=request["in_response_to"], destination=request["acs"], sp_entity_id=request["sp_entity_id"],
        name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=request["name_id"]),
        authn={"class_ref": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"},
        sign_response=False, sign_assertion=True, encrypt_assertion=encrypt,
        encrypt_assertion_self_contained=True, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
        binding=BINDING_HTTP_POST,
    )
    return base64.b64encode(str(response).encode()).decode()


def pysaml2_response(request: dict) -> str:
    """Run pysaml2 in its own venv (from the test suite) and return its SAMLResponse."""
    import subprocess

    if not PYSAML2_PYTHON.exists():
        raise RuntimeError(f"{PYSAML2_PYTHON} is missing: run `make pysaml2` (pysaml2 and Debian's xmlsec1)")
    done = subprocess.run([str(PYSAML2_PYTHON), __file__], input=json.dumps(request), capture_output=True,
                          text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pysaml2 failed: {done.stderr[-2000:]}")
    return done.stdout.strip()


if __name__ == "__main__":
    print(respond(json.load(sys.stdin)))
