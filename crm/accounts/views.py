"""Accounts: list, detail, create, edit, and name suggestions for the contact form."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import current_user

from crm.accounts import services
from crm.accounts.forms import AccountForm
from crm.auth.access import permission_required, refuse
from crm.auth.permissions import ACCOUNTS_CREATE, ACCOUNTS_EDIT, ACCOUNTS_VIEW, CONTACTS_VIEW
from crm.contacts import services as contact_services
from crm.contacts.models import Account
from crm.editing import edit_page
from crm.extensions import db
from crm.pagination import Window, page_arg, paginate

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


@bp.get("")
@permission_required(ACCOUNTS_VIEW)
def index():
    """Accounts with their contact counts; searchable by name (an external user's own account only)."""
    q = request.args.get("q", "")[:200]
    page = paginate(services.list_statement(q, **_scope()), page_arg(request.args.get("page")),
                    current_app.config["PAGE_SIZE"], scalars=False)
    if request.htmx and request.htmx.target == "account-results":
        return render_template("accounts/_results.html", page=page, q=q)
    return render_template("accounts/index.html", page=page, q=q)


@bp.get("/names")
@permission_required(ACCOUNTS_VIEW)
def names():
    """<option> elements for the account suggestions of the contact form."""
    return render_template("accounts/_names.html",
                           names=services.names_starting(request.args.get("q", "")[:200], **_scope()))


@bp.get("/<int:account_id>")
@permission_required(ACCOUNTS_VIEW)
def detail(account_id: int):
    """One account and, for a user who may view contacts, its contacts a page at a time (an account may have tens
    of thousands)."""
    account = _get(account_id, ACCOUNTS_VIEW)
    contacts = contact_services.account_contacts(account.id, Window.from_args(request.args),
                                                  current_app.config["PAGE_SIZE"]) \
        if current_user.can(CONTACTS_VIEW) else None
    return render_template("accounts/detail.html", account=account, contacts=contacts)


@bp.route("/new", methods=["GET", "POST"])
@permission_required(ACCOUNTS_CREATE)
def create():
    """Create an account (not for external users: they keep to their own)."""
    if current_user.is_external:
        refuse()
    return _edit(None)


@bp.route("/<int:account_id>/edit", methods=["GET", "POST"])
@permission_required(ACCOUNTS_EDIT)
def edit(account_id: int):
    """Edit an account."""
    return _edit(_get(account_id, ACCOUNTS_EDIT))


def _scope() -> dict:
    """An external user sees only their own account."""
    return {"only": current_user.account_id} if current_user.is_external else {}


def _get(account_id: int, permission: str) -> Account:
    """The account, if the user may do this to it (an external user's own account only)."""
    account = db.session.get(Account, account_id) or abort(404)
    if current_user.is_external and account.id != current_user.account_id:
        abort(404)
    if not current_user.can(permission):
        refuse()
    return account


def _edit(account: Account | None):
    form = AccountForm(obj=account)
    return edit_page(form, lambda: services.save_account(account, form.data), refused=services.AccountInvalid,
                     error_field="name", saved_message=lambda saved: f"Account {saved.name} saved.",
                     next_url=lambda saved: url_for(".detail", account_id=saved.id), template="accounts/form.html",
                     account=account)
