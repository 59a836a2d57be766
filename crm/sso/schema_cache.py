"""python3-saml reads and compiles the SAML XSD files from disk on every response (about 40 % of its cost,
SAML-SECURITY.md). This keeps each compiled schema per thread and validates exactly as the library does."""
from __future__ import annotations

import threading
from os.path import dirname, join

from lxml import etree
from onelogin.saml2 import xml_utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

_local = threading.local()  # lxml schema objects are not shared between threads
LIBRARY_VALIDATE_XML = OneLogin_Saml2_XML.validate_xml  # the library's own, for the benchmark's reference


def _schema(name: str) -> etree.XMLSchema:
    cache = getattr(_local, "schemas", None)
    if cache is None:
        cache = _local.schemas = {}
    if name not in cache:
        path = join(dirname(xml_utils.__file__), "schemas", name)
        cache[name] = OneLogin_Saml2_XML._schema_class(etree.parse(path))
    return cache[name]


def validate_xml(xml, schema, debug=False):
    """OneLogin_Saml2_XML.validate_xml with the compiled schema reused: same checks, same return values."""
    assert isinstance(schema, str)
    try:
        xml = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:
        return "unloaded_xml"
    if not _schema(schema).validate(xml):
        return "invalid_xml"
    return xml


def install() -> None:
    """Use the cached validator for every python3-saml schema check in this process."""
    OneLogin_Saml2_XML.validate_xml = staticmethod(validate_xml)
