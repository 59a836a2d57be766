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
from sqlalchemy import ColumnElement, and_, exists, false, func, literal, not_, or_, true

from crm.auth.models import User
from crm.contacts.models import Account, Contact, Department
from crm.identity_providers.directory_groups import DirectoryGroup, DirectoryGroupMember
from crm.scim.errors import ScimError
from crm.scim.resources import ENTERPRISE, USER
from crm.scim.users import user_id_of
from crm.search_keys import fold
from crm.users.models import UserIdentity

FOLD, LOWER, EXACT, ID, MEMBER = "fold", "lower", "exact", "id", "member"
# attribute path (lower case) -> (column, how values compare: FOLD through fold() against a key column (indexed),
# LOWER case-insensitively, EXACT as they are: externalId is caseExact; ID a resource id (eq and ne); MEMBER a
# group's member id (eq))
COLUMNS: dict[str, tuple[Any, str]] = {
    "username": (User.username_key, FOLD),
    "externalid": (UserIdentity.immutable_id, EXACT),
    "id": (User.id, ID),
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
    f"{ENTERPRISE.lower()}:employeenumber": (UserIdentity.employee_number, EXACT),
    f"{ENTERPRISE.lower()}:manager.value": (UserIdentity.manager, EXACT),
    f"{ENTERPRISE.lower()}:manager": (UserIdentity.manager, EXACT),
}
GROUP_COLUMNS: dict[str, tuple[Any, str]] = {
    "displayname": (DirectoryGroup.display_key, FOLD),
    "externalid": (DirectoryGroup.external_id, EXACT),
    "id": (DirectoryGroup.id, ID),
    "members": (DirectoryGroupMember.user_id, MEMBER),
    "members.value": (DirectoryGroupMember.user_id, MEMBER),
}
# Inside emails[...]: the CRM keeps one email, of type work and primary. Inside members[...]: the user id.
EMAIL_ENTRY = {"value": (Contact.email_key, FOLD), "type": (literal("work"), LOWER),
               "primary": (literal(True), EXACT)}
MEMBER_ENTRY = {"value": (DirectoryGroupMember.user_id, MEMBER)}
ENTRIES = {"emails": EMAIL_ENTRY, "members": MEMBER_ENTRY}


def parse(text: str, columns: dict[str, tuple[Any, str]] = COLUMNS) -> ColumnElement[bool]:
    """The SQL condition for a SCIM filter on users (or, with GROUP_COLUMNS, groups); ScimError 400 invalidFilter
    when it cannot be honoured."""
    try:
        tree = ScimFilter(text).ast
    except (InvalidFilterException, ValueError) as error:
        raise ScimError(400, f"Invalid filter: {error}", "invalidFilter") from None
    return _ToSql(columns).visit(tree)


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
        if how == MEMBER:
            if op != CompareOperator.eq:
                raise ScimError(400, f"{node.attr_path} compares with eq only.", "invalidFilter")
            number = user_id_of(value)
            return false() if number is None else exists().where(
                DirectoryGroupMember.group_id == DirectoryGroup.id, DirectoryGroupMember.user_id == number)
        if how == ID:
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
        if how == MEMBER:
            return exists().where(DirectoryGroupMember.group_id == DirectoryGroup.id)
        present = column.is_not(None)
        return and_(present, column != "") if how not in (EXACT, ID) else present

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        terms = [self.visit(term) for term in node.terms]
        return and_(*terms) if node.op == LogicalOperator.and_ else or_(*terms)

    def visit_value_path(self, node: ValuePath) -> ColumnElement[bool]:
        entry = ENTRIES.get(_key(node.attr_path))
        if entry is None or _key(node.attr_path) not in self.columns:
            raise ScimError(400, f"Cannot filter inside {node.attr_path}.", "invalidFilter")
        return _ToSql(entry).visit(node.val_filter)


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
