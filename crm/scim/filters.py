"""SCIM filters (RFC 7644 §3.4.2.2) as SQL: scim2-models parses the filter, this visitor turns its tree into a
SQLAlchemy condition over the user, the identity link and the contact, using the folded key columns (and their
indexes) where the CRM has them. An attribute we cannot filter on is a 400 invalidFilter, never "no filter"."""
from __future__ import annotations

from typing import Any

from scim2_models import InvalidFilterException, ScimFilter
from scim2_models.path.expressions import (
    CompareOperator,
    Comparison,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ValuePath,
)
from scim2_models.path.visitor import FilterVisitor
from sqlalchemy import ColumnElement, and_, false, func, literal, not_, or_, true

from crm.auth.models import User
from crm.contacts.models import Account, Contact, Department
from crm.scim.errors import ScimError
from crm.scim.resources import ENTERPRISE, USER
from crm.scim.users import user_id_of
from crm.search_keys import fold
from crm.users.models import UserIdentity

FOLD, LOWER, EXACT = "fold", "lower", "exact"
# attribute path (lower case) -> (column, how values compare: FOLD through fold() against a key column (indexed),
# LOWER case-insensitively, EXACT as they are: externalId is caseExact)
COLUMNS: dict[str, tuple[Any, str]] = {
    "username": (User.username_key, FOLD),
    "externalid": (UserIdentity.immutable_id, EXACT),
    "id": (User.id, EXACT),
    "active": (User.active, EXACT),
    "displayname": (Contact.name_key, FOLD),
    "name.formatted": (Contact.name_key, FOLD),
    "name.givenname": (Contact.given_name, LOWER),
    "name.familyname": (Contact.surname_key, FOLD),
    "title": (Contact.job_title, LOWER),
    "emails": (Contact.email_key, FOLD),
    "emails.value": (Contact.email_key, FOLD),
    "phonenumbers": (Contact.phone, LOWER),
    "phonenumbers.value": (Contact.phone, LOWER),
    f"{ENTERPRISE.lower()}:department": (Department.name_key, FOLD),
    f"{ENTERPRISE.lower()}:organization": (Account.name_key, FOLD),
}
# Inside emails[...]: the CRM keeps one email, of type work and primary.
EMAIL_ENTRY = {"value": (Contact.email_key, FOLD), "type": (literal("work"), LOWER),
               "primary": (literal(True), EXACT)}


def parse(text: str) -> ColumnElement[bool]:
    """The SQL condition for a SCIM filter; ScimError 400 invalidFilter when it cannot be honoured."""
    try:
        tree = ScimFilter(text).ast
    except (InvalidFilterException, ValueError) as error:
        raise ScimError(400, f"Invalid filter: {error}", "invalidFilter") from None
    return _ToSql(COLUMNS).visit(tree)


def _key(attr_path) -> str:
    uri = (attr_path.uri or "").lower()
    name = attr_path.attr.lower() + (f".{attr_path.sub_attr.lower()}" if attr_path.sub_attr else "")
    if uri and uri != USER.lower():
        return f"{uri}:{name}"
    return name


class _ToSql(FilterVisitor[ColumnElement[bool]]):
    def __init__(self, columns: dict[str, tuple[Any, str]]):
        self.columns = columns

    def _column(self, attr_path) -> tuple[Any, str]:
        key = _key(attr_path)
        if key not in self.columns:
            raise ScimError(400, f"Cannot filter on {attr_path}: not an attribute of this service provider.",
                            "invalidFilter")
        return self.columns[key]

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        column, how = self._column(node.attr_path)
        value, op = node.value, node.op
        if column is User.id:
            value = user_id_of(value)
            if value is None or op not in (CompareOperator.eq, CompareOperator.ne):
                return false() if op != CompareOperator.ne else true()
        elif column is User.active or isinstance(value, bool):
            if not isinstance(value, bool) or op not in (CompareOperator.eq, CompareOperator.ne):
                raise ScimError(400, f"{node.attr_path} compares with true or false (eq, ne).", "invalidFilter")
        elif value is None:
            raise ScimError(400, "Compare with a value, or use pr.", "invalidFilter")
        else:
            value = str(value)
            if how == FOLD:
                value = fold(value)
            elif how == LOWER:
                column, value = func.lower(column), value.lower()
        return _compare(column, op, value)

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        column, how = self._column(node.attr_path)
        present = column.is_not(None)
        return and_(present, column != "") if how != EXACT else present

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        if _key(node.attr_path) != "emails":
            raise ScimError(400, f"Cannot filter inside {node.attr_path}.", "invalidFilter")
        return _ToSql(EMAIL_ENTRY).visit(node.val_filter)


def _like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _compare(column, op: CompareOperator, value) -> ColumnElement[bool]:
    if op == CompareOperator.eq:
        return column == value
    if op == CompareOperator.ne:
        return or_(column != value, column.is_(None))
    if op == CompareOperator.co:
        return column.like(f"%{_like(value)}%", escape="\\")
    if op == CompareOperator.sw:
        return column.like(f"{_like(value)}%", escape="\\")
    if op == CompareOperator.ew:
        return column.like(f"%{_like(value)}", escape="\\")
    return {CompareOperator.gt: column > value, CompareOperator.ge: column >= value,
            CompareOperator.lt: column < value, CompareOperator.le: column <= value}[op]
