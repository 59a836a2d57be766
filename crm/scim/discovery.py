"""Discovery (RFC 7644 §4): ServiceProviderConfig, ResourceTypes and Schemas. Schemas publish only the attributes
the CRM stores and gives back verbatim (resources.py): name.formatted (the full name, as displayName), an email's
primary flag and the enterprise department (an existing Department only) are accepted but not published. Groups are
the directory's groups: a display name, an external id and members."""
from __future__ import annotations

from typing import Any

from crm.scim.groups import GROUP
from crm.scim.resources import ENTERPRISE, USER

SPC = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
MAX_RESULTS = 200
MAX_BODY = 1024 * 1024


def service_provider_config(base: str) -> dict[str, Any]:
    """What this service provider supports."""
    return {"schemas": [SPC], "documentationUri": None,
            "patch": {"supported": True}, "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": True, "maxResults": MAX_RESULTS}, "changePassword": {"supported": False},
            "sort": {"supported": False}, "etag": {"supported": False},
            "authenticationSchemes": [{"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": True,
                                       "description": "A bearer token from the identity provider's page in the "
                                                      "CRM (Provisioning (SCIM)) or `sso scim-token SLUG`."}],
            "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base}/ServiceProviderConfig"}}


def resource_types(base: str) -> list[dict[str, Any]]:
    """The resource types served: User, with the enterprise extension, and Group."""
    return [{"schemas": [RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users",
             "description": "A CRM user and their contact", "schema": USER,
             "schemaExtensions": [{"schema": ENTERPRISE, "required": False}],
             "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/User"}},
            {"schemas": [RESOURCE_TYPE], "id": "Group", "name": "Group", "endpoint": "/Groups",
             "description": "A group of the directory; its members get the roles \"SAML groups to user roles\" "
                            "maps to it", "schema": GROUP,
             "meta": {"resourceType": "ResourceType", "location": f"{base}/ResourceTypes/Group"}}]


def _attr(name: str, *, kind: str = "string", required: bool = False, unique: str = "none",
          sub: list[dict] | None = None, multi: bool = False, mutability: str = "readWrite",
          case_exact: bool = False) -> dict[str, Any]:
    attribute = {"name": name, "type": kind, "multiValued": multi, "description": name, "required": required,
                 "caseExact": case_exact, "mutability": mutability, "returned": "default", "uniqueness": unique}
    if sub is not None:
        attribute["subAttributes"] = sub
    return attribute


def _typed(name: str, types: list[str]) -> dict[str, Any]:
    entry = [_attr("value"), {**_attr("type"), "canonicalValues": types}]
    return _attr(name, kind="complex", multi=True, sub=entry)


def schemas(base: str) -> list[dict[str, Any]]:
    """The User schema, the enterprise extension and the Group schema, with the attributes the CRM keeps."""
    user = [_attr("userName", required=True, unique="server"),
            _attr("name", kind="complex", sub=[_attr("familyName"), _attr("givenName")]),
            # every user has both (a contact's full name falls back to the name, else the userName; active is
            # true unless set): published as required, though a POST or PUT without them is still taken
            _attr("displayName", required=True), _attr("title"), _attr("active", kind="boolean", required=True),
            _typed("emails", ["work"]), _typed("phoneNumbers", ["work", "mobile"])]
    # department is accepted and given back, but it must name an existing Department: not published as writable
    manager = [_attr("value", case_exact=True),
               {**_attr("$ref", kind="reference"), "referenceTypes": ["User"]}]
    enterprise = [_attr("organization"), _attr("employeeNumber", case_exact=True),
                  _attr("manager", kind="complex", sub=manager)]
    member = [_attr("value", mutability="immutable"), _attr("display"),  # display: as the directory sent it
              {**_attr("$ref", kind="reference", mutability="immutable"), "referenceTypes": ["User"]},
              {**_attr("type", mutability="immutable"), "canonicalValues": ["User"]}]
    group = [_attr("displayName", required=True), _attr("members", kind="complex", multi=True, sub=member)]
    return [{"schemas": [SCHEMA], "id": USER, "name": "User", "description": "User Account", "attributes": user,
             "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{USER}"}},
            {"schemas": [SCHEMA], "id": ENTERPRISE, "name": "EnterpriseUser", "description": "Enterprise User",
             "attributes": enterprise, "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{ENTERPRISE}"}},
            {"schemas": [SCHEMA], "id": GROUP, "name": "Group", "description": "Group", "attributes": group,
             "meta": {"resourceType": "Schema", "location": f"{base}/Schemas/{GROUP}"}}]
