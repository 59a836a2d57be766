"""/scim/v2: every request needs a provider's valid bearer token (401 before anything else, discovery included);
errors are SCIM JSON; each write is one transaction."""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, g, request
from sqlalchemy.exc import DBAPIError, IntegrityError
from werkzeug.exceptions import HTTPException

from crm.extensions import csrf, db
from crm.identity_providers.directory_groups import DirectoryGroup
from crm.identity_providers.scim_tokens import authenticate
from crm.scim import discovery, filters, groups, throttle, users
from crm.scim.errors import ScimError, error_response, scim_response
from crm.scim.resources import LIST, project, user_resource
from crm.users.statistics import binding_created

log = logging.getLogger(__name__)
PREFIX = "/scim/v2"
bp = Blueprint("scim", __name__, url_prefix=PREFIX)
csrf.exempt(bp)
ACCEPTED_TYPES = ("application/scim+json", "application/json")
RETRYABLE = ("40P01", "40001")  # deadlock detected, serialization failure
TRIES = 3
T = TypeVar("T")


def register_scim(app: Flask) -> None:
    """Serve /scim/v2; errors under it that no view met (an unknown method) are answered in SCIM JSON too."""
    app.register_blueprint(bp)
    throttle.install(app)
    app.extensions.setdefault("error_renderers", {})[PREFIX] = lambda code, text: error_response(code, text or "")


def base_url() -> str:
    """The SCIM base URL (CRM_BASE_URL + /scim/v2)."""
    return current_app.config["BASE_URL"].rstrip("/") + PREFIX


@bp.before_request
def authenticate_token():
    """The bearer token first; then the body's size and type."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    token = authenticate(presented.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        db.session.rollback()
        return error_response(401, "A valid SCIM bearer token is required.")
    g.scim_token, g.scim_provider = token, token.provider
    if db.session.is_modified(token):  # its last use, at most once a minute; otherwise nothing to end: a commit
        db.session.commit()            # here cost two round trips (it, and reloading the expired token)
    if (wait := throttle.retry_after(token.id)) is not None:
        return error_response(429, f"Too many requests with this token; retry in {wait} s.",
                              headers={"Retry-After": str(wait)})
    if (request.content_length or 0) > discovery.MAX_BODY:
        return error_response(413, f"The request body is larger than {discovery.MAX_BODY} bytes.")
    return None


@bp.errorhandler(ScimError)
def scim_error(error: ScimError):
    db.session.rollback()
    return error_response(error.status, error.detail, error.scim_type)


@bp.errorhandler(IntegrityError)
def taken(_error: IntegrityError):
    """A unique key met while writing (userName, externalId, a new account's name): a 409, as RFC 7644 says."""
    db.session.rollback()
    return error_response(409, "userName or externalId is already used by another user.", "uniqueness")


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException):
    db.session.rollback()
    return error_response(error.code or 500, error.description or "")


@bp.errorhandler(Exception)
def unexpected(error: Exception):
    db.session.rollback()
    log.exception("SCIM %s %s failed", request.method, request.path)
    return error_response(500, "The service provider met an unexpected error; it was logged.")


def _body() -> Any:
    if request.mimetype not in ACCEPTED_TYPES:
        raise ScimError(400, "Send application/scim+json (or application/json).", "invalidSyntax")
    raw = request.get_data(cache=False)
    if len(raw) > discovery.MAX_BODY:
        raise ScimError(413, f"The request body is larger than {discovery.MAX_BODY} bytes.")
    try:
        return json.loads(raw)
    except ValueError:
        raise ScimError(400, "The request body is not JSON.", "invalidSyntax") from None


@bp.get("/ServiceProviderConfig")
def service_provider_config():
    """What this service provider supports."""
    return scim_response(discovery.service_provider_config(base_url()))


@bp.get("/ResourceTypes")
def resource_types():
    """The resource types, as a list response."""
    return _list(discovery.resource_types(base_url()), 1)


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str):
    """One resource type."""
    found = [t for t in discovery.resource_types(base_url()) if t["id"] == name]
    if not found:
        raise ScimError(404, f"No resource type {name}.")
    return scim_response(found[0])


@bp.get("/Schemas")
def schemas():
    """The schemas, as a list response."""
    return _list(discovery.schemas(base_url()), 1)


@bp.get("/Schemas/<path:schema_id>")
def schema(schema_id: str):
    """One schema."""
    found = [s for s in discovery.schemas(base_url()) if s["id"] == schema_id]
    if not found:
        raise ScimError(404, f"No schema {schema_id}.")
    return scim_response(found[0])


def _list(resources: list[dict], start: int, total: int | None = None):
    return scim_response({"schemas": [LIST], "totalResults": len(resources) if total is None else total,
                          "startIndex": start, "itemsPerPage": len(resources), "Resources": resources})


def _int(value: Any, default: int, name: str) -> int:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ScimError(400, f"{name} must be an integer.", "invalidValue") from None


def _search(params: dict[str, Any], of_groups: bool = False):
    columns = filters.GROUP_COLUMNS if of_groups else filters.COLUMNS
    condition = filters.parse(params["filter"], columns) if params.get("filter") else None
    start = max(1, _int(params.get("startIndex"), 1, "startIndex"))
    count = min(max(0, _int(params.get("count"), discovery.MAX_RESULTS, "count")), discovery.MAX_RESULTS)
    attributes, excluded = _names(params.get("attributes")), _names(params.get("excludedAttributes"))
    total, found = (groups if of_groups else users).page(g.scim_provider, condition, start, count)
    resources = [_projected(item, attributes, excluded) for item in found]
    return _list(resources, start, total)


def _wants_members(attributes: str | None, excluded: str | None) -> bool:
    """Whether a group's members are asked for (Entra lists groups with excludedAttributes=members)."""
    def named(text: str | None) -> bool:
        return any(p.strip().lower().rsplit(":", 1)[-1].split(".")[0] == "members" for p in (text or "").split(","))
    return named(attributes) if attributes else not named(excluded)


def _names(value: Any) -> str | None:
    return ",".join(value) if isinstance(value, list) else value


@bp.get("/Users")
def list_users():
    """Users of this provider, filtered and paged."""
    return _search(request.args.to_dict())


@bp.post("/Users/.search")
def search():
    """The same search, its parameters in a SearchRequest body."""
    return _search(_search_request())


def _search_request() -> dict[str, Any]:
    body = _body()
    if not isinstance(body, dict):
        raise ScimError(400, "A SearchRequest is a JSON object.", "invalidSyntax")
    return body


@bp.post("/.search")
def search_everything():
    """A SearchRequest across users and groups (RFC 7644 §3.4.3): users first, then groups, one page of both. A
    filter naming an attribute only one of them has finds nothing of the other; one neither has is a 400."""
    params = _search_request()
    start = max(1, _int(params.get("startIndex"), 1, "startIndex"))
    count = min(max(0, _int(params.get("count"), discovery.MAX_RESULTS, "count")), discovery.MAX_RESULTS)
    conditions = {}
    for of_groups, columns in ((False, filters.COLUMNS), (True, filters.GROUP_COLUMNS)):
        try:
            conditions[of_groups] = filters.parse(params["filter"], columns) if params.get("filter") else None
        except ScimError:
            if of_groups and not conditions:  # neither users nor groups have the attribute
                raise
    answers = []
    skip, left = start - 1, count
    total = 0
    for of_groups, condition in conditions.items():
        owner = groups if of_groups else users
        matching, _none = owner.page(g.scim_provider, condition, 1, 0)
        total += matching
        if left and skip < matching:
            _all, found = owner.page(g.scim_provider, condition, skip + 1, left)
            answers += found
            left -= len(found)
        skip = max(0, skip - matching)
    attributes, excluded = _names(params.get("attributes")), _names(params.get("excludedAttributes"))
    return _list([_projected(item, attributes, excluded) for item in answers], start, total)


def _projected(item, attributes: str | None, excluded: str | None) -> dict:
    """A user or a group as its SCIM resource, limited to the attributes asked for (a group's members are read only
    when they are)."""
    if isinstance(item, DirectoryGroup):
        resource = groups.group_resource(item, base_url(), _wants_members(attributes, excluded))
    else:
        resource = user_resource(item, item.identity, f"{base_url()}/Users/{item.id}")
    return project(resource, attributes, excluded)


def _answer(item, status: int = 200):
    """One user or group, as the request's attributes/excludedAttributes ask, with its Location and ETag."""
    resource = _projected(item, request.args.get("attributes"), request.args.get("excludedAttributes"))
    return scim_response(resource, status, {"Location": resource["meta"]["location"],
                                            "ETag": resource["meta"]["version"]})


def _write(change: Callable[[], T]) -> T:
    """Run a write and commit it; when PostgreSQL makes it a deadlock's victim (a SAML first login of the same
    person took the same rows in the other order), once more from the start. A unique key is a 409 (taken()).
    Writes build their answer inside `change`, from what they just flushed: after the commit every attribute would
    be read again (two more statements a write)."""
    for attempt in range(1, TRIES + 1):
        try:
            result = change()
            db.session.commit()
            return result
        except DBAPIError as error:
            db.session.rollback()
            if getattr(error.orig, "sqlstate", None) not in RETRYABLE or attempt == TRIES:
                raise
    raise AssertionError("unreachable")


@bp.post("/Users")
def create_user():
    """Create a user (or bring back one this directory deleted)."""
    body = _body()
    answer = _write(lambda: _answer(users.create(g.scim_provider, g.scim_token, body)[0], 201))
    if answer.status_code == 201:
        binding_created()
    return answer


@bp.get("/Users/<user_id>")
def get_user(user_id: str):
    """One user of this provider."""
    return _answer(users.find(g.scim_provider, user_id))


@bp.put("/Users/<user_id>")
def replace_user(user_id: str):
    """Replace a user's attributes."""
    body = _body()
    return _write(lambda: _answer(_changed(users, users.replace, user_id, body)))


@bp.patch("/Users/<user_id>")
def patch_user(user_id: str):
    """Change a user's attributes with a PatchOp."""
    body = _body()
    return _write(lambda: _answer(_changed(users, users.patch, user_id, body)))


@bp.delete("/Users/<user_id>")
def delete_user(user_id: str):
    """Deprovision a user; SCIM no longer sees them."""
    _write(lambda: users.delete(g.scim_provider, g.scim_token, users.find(g.scim_provider, user_id)))
    return "", 204


def _changed(owner, change, item_id: str, body: Any):
    """Find the provider's user or group (`owner`: the users or groups module) and apply the change to it."""
    item = owner.find(g.scim_provider, item_id)
    change(g.scim_provider, g.scim_token, item, body)
    return item


@bp.get("/Groups")
def list_groups():
    """Groups of this provider, filtered and paged."""
    return _search(request.args.to_dict(), of_groups=True)


@bp.post("/Groups/.search")
def search_groups():
    """The same search, its parameters in a SearchRequest body."""
    return _search(_search_request(), of_groups=True)


@bp.post("/Groups")
def create_group():
    """Create a group of the directory, with its members."""
    body = _body()
    return _write(lambda: _answer(groups.create(g.scim_provider, g.scim_token, body), 201))


@bp.get("/Groups/<group_id>")
def get_group(group_id: str):
    """One group of this provider."""
    return _answer(groups.find(g.scim_provider, group_id))


@bp.put("/Groups/<group_id>")
def replace_group(group_id: str):
    """Replace a group's name and members."""
    body = _body()
    return _write(lambda: _answer(_changed(groups, groups.replace, group_id, body)))


@bp.patch("/Groups/<group_id>")
def patch_group(group_id: str):
    """Change a group's name or members with a PatchOp."""
    body = _body()
    return _write(lambda: _answer(_changed(groups, groups.patch, group_id, body)))


@bp.delete("/Groups/<group_id>")
def delete_group(group_id: str):
    """Delete a group; the roles it gave go with it."""
    _write(lambda: groups.delete(g.scim_provider, g.scim_token, groups.find(g.scim_provider, group_id)))
    return "", 204


@bp.route("/<path:_rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def unknown(_rest: str):
    """Anything else under /scim/v2 (after the token check): a known endpoint asked with another method is a 405."""
    if _rest.split("/", 1)[0] in KNOWN:
        raise ScimError(405, f"{request.method} is not supported on {request.path}.")
    raise ScimError(404, f"No SCIM endpoint {request.path}.")


KNOWN = {"ServiceProviderConfig", "ResourceTypes", "Schemas", "Users", "Groups", ".search"}
