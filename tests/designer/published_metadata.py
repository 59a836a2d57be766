"""IdP metadata as an IdP or a federation publishes it at a URL, made with the suite's own keys: any number of
signing certificates, certificates of a chosen validity, and federation documents signed with xmlsec."""
from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from lxml import etree

from tests.designer.metadata_fixtures import MD, REDIRECT, _key
from tests.saml_keys import cert_body, key_pair


@functools.lru_cache(maxsize=32)
def certificate(key_name: str, starts_in_days: float, ends_in_days: float) -> str:
    """A certificate for the suite's key `key_name` valid from and to the given days from now (negative: past).

    The same key as key_pair(key_name), so a response signed by the test signer with that key verifies with it, and
    any validity can be had without waiting: an expired one, one ending in 5 or 20 days.
    """
    key = serialization.load_pem_private_key(key_pair(key_name)[0].encode(), None)
    now = datetime.now(UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, key_name),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test IdP")])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now + timedelta(days=starts_in_days))
            .not_valid_after(now + timedelta(days=ends_in_days)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def idp(slug: str = "entra", certificates: tuple[str, ...] = (), entity_id: str | None = None,
        sso_url: str | None = None, slo_url: str | None = None, valid_until: str | None = None,
        document_id: str = "_metadata") -> str:
    """One IdP's EntityDescriptor with these signing certificates (PEM), as tests.factories.provider configures it."""
    entity_id = entity_id or f"https://idp.example.com/{slug}"
    sso_url, slo_url = sso_url or f"https://idp.example.com/{slug}/sso", slo_url or f"https://idp.example.com/{slug}/slo"
    until = f' validUntil="{valid_until}"' if valid_until else ""
    keys = "".join(_key(c) for c in certificates or (key_pair("test-idp")[1],))
    return (f'<EntityDescriptor {MD} ID="{document_id}" entityID="{entity_id}"{until}>'
            f'<IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">{keys}'
            f'<SingleLogoutService Binding="{REDIRECT}" Location="{slo_url}"/>'
            f'<SingleSignOnService Binding="{REDIRECT}" Location="{sso_url}"/></IDPSSODescriptor></EntityDescriptor>')


def federation(idps: dict[str, tuple[str, ...]], valid_until: str | None = None) -> str:
    """An aggregate of IdPs (entity ID -> signing certificates) and an SP, as a federation publishes it."""
    until = f' validUntil="{valid_until}"' if valid_until else ""
    members = "".join(idp(entity_id=e, certificates=c, sso_url=f"{e}/sso", slo_url=f"{e}/slo", document_id=f"_e{n}")
                      .replace(f" {MD}", "") for n, (e, c) in enumerate(idps.items()))
    sp = (f'<EntityDescriptor entityID="https://sp.example.org/sp"><SPSSODescriptor protocolSupportEnumeration='
          f'"urn:oasis:names:tc:SAML:2.0:protocol">{_key(key_pair("sp.example.org")[1])}</SPSSODescriptor>'
          '</EntityDescriptor>')
    return f'<EntitiesDescriptor {MD} ID="_federation" Name="urn:example:federation"{until}>{sp}{members}' \
           "</EntitiesDescriptor>"


def in_days(days: float) -> str:
    """A SAML timestamp `days` from now."""
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_metadata(document: str, key_name: str = "federation-signer", sha1: bool = False,
                  reference: str | None = None) -> bytes:
    """The document with an enveloped signature on its root (first child), as federations sign their feeds."""
    root = etree.fromstring(document.encode())
    method = xmlsec.Transform.RSA_SHA1 if sha1 else xmlsec.Transform.RSA_SHA256
    signature = xmlsec.template.create(root, xmlsec.Transform.EXCL_C14N, method, ns="ds")
    root.insert(0, signature)
    ref = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA1 if sha1 else xmlsec.Transform.SHA256,
                                        uri=reference if reference is not None else f"#{root.get('ID')}")
    xmlsec.template.add_transform(ref, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(ref, xmlsec.Transform.EXCL_C14N)
    xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
    key_pem, cert_pem = key_pair(key_name)
    key = xmlsec.Key.from_memory(key_pem.encode(), xmlsec.KeyFormat.PEM)
    key.load_cert_from_memory(cert_pem.encode(), xmlsec.KeyFormat.PEM)
    context = xmlsec.SignatureContext()
    context.key = key
    for element in root.iter():
        if element.get("ID"):
            context.register_id(element, "ID")
    context.sign(signature)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


__all__ = ["cert_body", "certificate", "federation", "idp", "in_days", "sign_metadata"]
