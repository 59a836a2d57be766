"""The SCIM User resource and the CRM: what is published (only what is stored and given back verbatim), a user as a
resource, and a resource or a PATCH operation as CRM values.

CRM values are a flat dict: userName, externalId, active, and the contact's fields (given_name, surname, full_name,
email, phone, mobile_phone, job_title, department, account). Attributes we do not store are ignored and named.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from crm.scim.errors import ScimError

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
CONTACT_KEYS = ("given_name", "surname", "full_name", "email", "phone", "mobile_phone", "job_title", "department",
                "account")
IDENTITY_KEYS = ("employee_number", "manager")  # kept on the identity link, as the directory sent them

# A path (lower case, URN prefix included for the enterprise extension) -> the CRM value it is.
SIMPLE_PATHS = {
    "username": "userName", "externalid": "externalId", "active": "active", "displayname": "full_name",
    "title": "job_title", "name.givenname": "given_name", "name.familyname": "surname", "name.formatted": "full_name",
    "emails.value": "email", f"{ENTERPRISE.lower()}:department": "department",
    f"{ENTERPRISE.lower()}:organization": "account", f"{ENTERPRISE.lower()}:employeenumber": "employee_number",
    f"{ENTERPRISE.lower()}:manager": "manager", f"{ENTERPRISE.lower()}:manager.value": "manager",
}
TYPED = {("emails", "work"): "email", ("phonenumbers", "work"): "phone", ("phonenumbers", "mobile"): "mobile_phone"}
# emails[type eq "work"], phoneNumbers[type eq "mobile"].value, emails[primary eq true], emails[value eq "…"]
_VALUE_PATH = re.compile(r'^(emails|phonenumbers)\[\s*(type|value|primary)\s+eq\s+(?:"([^"]*)"|(true))\s*\]'
                         r'(?:\.value)?$', re.IGNORECASE)


def user_resource(user, identity, location: str) -> dict[str, Any]:
    """The user as a SCIM User resource (core schema and the enterprise extension); `identity` their link to the
    provider (None: none yet)."""
    external_id = identity.immutable_id if identity is not None else None
    c = user.contact
    get = (lambda key: getattr(c, key, None)) if c is not None else (lambda key: None)
    body: dict[str, Any] = {"schemas": [USER, ENTERPRISE], "id": str(user.id), "userName": user.username,
                            "active": bool(user.active)}
    if external_id:
        body["externalId"] = external_id
    # name.formatted and displayName are both the contact's full name: only displayName is given back
    name = {k: v for k, v in (("givenName", get("given_name")), ("familyName", get("surname"))) if v}
    if name:
        body["name"] = name
    if get("full_name"):
        body["displayName"] = get("full_name")
    if get("job_title"):
        body["title"] = get("job_title")
    if get("email"):
        body["emails"] = [{"value": get("email"), "type": "work"}]
    phones = [{"value": get(key), "type": kind} for key, kind in (("phone", "work"), ("mobile_phone", "mobile"))
              if get(key)]
    if phones:
        body["phoneNumbers"] = phones
    # department names an existing Department (an unknown one is left out): given back, not published in /Schemas
    enterprise: dict[str, Any] = {k: str(v) for k, v in (("department", get("department")),
                                                          ("organization", get("account"))) if v}
    if identity is not None and identity.employee_number:
        enterprise["employeeNumber"] = identity.employee_number
    if identity is not None and identity.manager:
        enterprise["manager"] = {"value": identity.manager,
                                 "$ref": f"{location.rsplit('/Users/', 1)[0]}/Users/{identity.manager}"}
    if enterprise:
        body[ENTERPRISE] = enterprise
    version = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    modified = max(filter(None, (user.created_at, get("updated_at"))))
    body["meta"] = {"resourceType": "User", "created": _iso(user.created_at), "lastModified": _iso(modified),
                    "location": location, "version": f'W/"{version}"'}
    return body


def _iso(moment) -> str:
    return moment.replace(microsecond=0).isoformat() + "Z"


def values_of_resource(body: Any) -> tuple[dict[str, Any], list[str]]:
    """The CRM values a POSTed or PUT User resource gives (every stored attribute: absent ones are None, except
    `active`, which Okta leaves out of a PUT), and the attributes ignored."""
    if not isinstance(body, dict):
        raise ScimError(400, "The request body must be a JSON object.", "invalidSyntax")
    values: dict[str, Any] = {key: None for key in ("externalId", *CONTACT_KEYS, *IDENTITY_KEYS)}
    ignored: list[str] = []
    for key, value in body.items():
        if key.lower() in ("schemas", "id", "meta"):
            continue
        set_path(values, key, value, ignored)
    if not isinstance(values.get("userName"), str) or not values["userName"].strip():
        raise ScimError(400, "userName is required.", "invalidValue")
    return values, ignored


def set_path(values: dict[str, Any], path: str, value: Any, ignored: list[str]) -> None:
    """Set what the attribute at this path (a PATCH path, or a resource's key) names to the value (None removes)."""
    lowered = path.strip().lower()
    if lowered.startswith(USER.lower() + ":"):
        lowered = lowered[len(USER) + 1:]
    if lowered in SIMPLE_PATHS:
        values[SIMPLE_PATHS[lowered]] = _scalar(SIMPLE_PATHS[lowered], value)
    elif match := _VALUE_PATH.match(lowered):
        key = _entry_of(values, *match.groups())
        if key is None:
            ignored.append(path)
        else:
            values[key] = _scalar(key, value.get("value") if isinstance(value, dict) else value)
    elif lowered in ("name", ENTERPRISE.lower()):
        if value is None:
            value = {"givenName": None, "familyName": None, "formatted": None} if lowered == "name" else \
                {"department": None, "organization": None, "employeeNumber": None, "manager": None}
        if not isinstance(value, dict):
            raise ScimError(400, f"{path} takes an object.", "invalidValue")
        prefix = "name." if lowered == "name" else ENTERPRISE + ":"
        for sub, sub_value in value.items():
            set_path(values, prefix + sub, sub_value, ignored)
    elif lowered in ("emails", "phonenumbers"):
        _set_multi(values, lowered, value, path)
    else:
        ignored.append(path)


def _entry_of(values: dict[str, Any], attribute: str, compared: str, text: str | None, flag: str | None) -> str | None:
    """Which CRM value an entry filter of emails or phoneNumbers picks: by type (work, mobile), the primary (the one
    email), or by value (what it holds now; none holding it is a 400 noTarget); None: an entry the CRM does not keep."""
    if compared == "type":
        return TYPED.get((attribute, text or ""))
    keys = ("email",) if attribute == "emails" else ("phone", "mobile_phone")
    if compared == "primary":
        return keys[0] if flag and attribute == "emails" else None
    held = next((k for k in keys if (values.get(k) or "").lower() == (text or "")), None)
    if held is None:
        raise ScimError(400, f"No {attribute} entry has the value {text}.", "noTarget")
    return held


def _set_multi(values: dict[str, Any], attribute: str, items: Any, path: str) -> None:
    """emails or phoneNumbers as a list: the work email (else the primary, else the first); work and mobile phones."""
    if items is None:
        items = []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ScimError(400, f"{path} takes a list of objects.", "invalidValue")
    if attribute == "emails":
        chosen = next((i for i in items if str(i.get("type", "")).lower() == "work"), None) \
            or next((i for i in items if i.get("primary") in (True, "true", "True")), None) \
            or (items[0] if items else None)
        values["email"] = _scalar("email", chosen.get("value") if chosen else None)
        return
    for kind, key in (("work", "phone"), ("mobile", "mobile_phone")):
        found = next((i for i in items if str(i.get("type", "")).lower() == kind), None)
        values[key] = _scalar(key, found.get("value") if found else None)


def _scalar(key: str, value: Any) -> Any:
    """A value as the CRM stores it: active a boolean (Entra sends "True"/"False" strings), the rest text."""
    if key == "active":
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ScimError(400, "active must be true or false.", "invalidValue")
        return value
    if value is None or value == "":
        return None
    if isinstance(value, dict) and key in ("department", "account", "manager"):  # Entra: manager as a bare string
        value = value.get("value") or (value.get("displayName") if key != "manager" else None)
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ScimError(400, f"{key} takes a string.", "invalidValue")
    return str(value).strip() or None


def apply_patch(values: dict[str, Any], body: Any) -> list[str]:
    """Apply a PatchOp's operations to the user's current CRM values (add, replace, remove; with or without a path,
    in any letter case: Entra writes "Replace"); the attributes ignored."""
    if not isinstance(body, dict) or not isinstance(body.get("Operations"), list) or not body["Operations"]:
        raise ScimError(400, "A PatchOp needs a list of Operations.", "invalidSyntax")
    ignored: list[str] = []
    for operation in body["Operations"]:
        if not isinstance(operation, dict):
            raise ScimError(400, "Each operation must be an object.", "invalidSyntax")
        op = str(operation.get("op", "")).lower()
        path, value = operation.get("path"), operation.get("value")
        if op not in ("add", "replace", "remove"):
            raise ScimError(400, f"Unknown PATCH op {operation.get('op')!r}.", "invalidSyntax")
        if op == "remove":
            if not path:
                raise ScimError(400, "A remove operation needs a path.", "noTarget")
            if str(path).strip().lower() in ("username", "active"):
                raise ScimError(400, f"{path} cannot be removed.", "mutability")
            set_path(values, str(path), None, ignored)
        elif path:
            set_path(values, str(path), value, ignored)
        elif isinstance(value, dict):  # path-less: each key a path (Okta's {"active": false}, Entra's dotted keys)
            for key, sub_value in value.items():
                set_path(values, key, sub_value, ignored)
        else:
            raise ScimError(400, "An operation without a path takes an object value.", "invalidValue")
    return ignored


def project(resource: dict[str, Any], attributes: str | None, excluded: str | None) -> dict[str, Any]:
    """The resource limited to `attributes`, or without `excludedAttributes` (id, schemas and meta always stay)."""
    if not attributes and not excluded:
        return resource
    wanted, keep = _paths(attributes or excluded), bool(attributes)
    out: dict[str, Any] = {}
    for key, value in resource.items():
        lowered = key.lower()
        subs = {sub for top, sub in wanted if top == lowered and sub}
        whole = (lowered, None) in wanted
        if key in ("id", "schemas", "meta") or (keep and (whole or (subs and not isinstance(value, dict)))):
            out[key] = value
        elif keep and subs:
            out[key] = {k: v for k, v in value.items() if k.lower() in subs}
        elif not keep and not whole:
            out[key] = {k: v for k, v in value.items() if k.lower() not in subs} if subs and isinstance(value, dict) \
                else value
    return out


def _paths(text: str) -> set[tuple[str, str | None]]:
    """(attribute, sub-attribute or None) pairs from a comma-separated list, lower case; the core URN dropped, the
    enterprise URN the attribute whose sub-attributes its attributes are."""
    paths = set()
    for item in (p.strip().lower() for p in text.split(",") if p.strip()):
        if item.startswith(USER.lower() + ":"):
            item = item[len(USER) + 1:]
        if item.startswith(ENTERPRISE.lower() + ":"):
            paths.add((ENTERPRISE.lower(), item[len(ENTERPRISE) + 1:]))
        elif item == ENTERPRISE.lower():
            paths.add((item, None))
        else:
            top, _, sub = item.partition(".")
            paths.add((top, sub or None))
    return paths
