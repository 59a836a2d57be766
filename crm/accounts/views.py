"""Accounts: list, detail, create, edit, and name suggestions for the contact form."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request, url_for
from flask_login import login_required

from crm.accounts import services
from crm.accounts.forms import AccountForm
from crm.contacts import services as contact_services
from crm.contacts.models import Account
from crm.editing import edit_page
from crm.extensions import db
from crm.pagination import Window, page_arg, paginate

bp = Blueprint("accounts", __name__, url_prefix="/accounts")


@bp.get("")
@login_required
def index():
    """Accounts with their contact counts; searchable by name."""
    q = request.args.get("q", "")[:200]
    page = paginate(services.list_statement(q), page_arg(request.args.get("page")),
                    current_app.config["PAGE_SIZE"], scalars=False)
    if request.htmx and request.htmx.target == "account-results":
        return render_template("accounts/_results.html", page=page, q=q)
    return render_template("accounts/index.html", page=page, q=q)


@bp.get("/names")
@login_required
def names():
    """<option> elements for the account suggestions of the contact form."""
    return render_template("accounts/_names.html", names=services.names_starting(request.args.get("q", "")[:200]))


@bp.get("/<int:account_id>")
@login_required
def detail(account_id: int):
    """One account and its contacts, a page at a time (an account may have tens of thousands)."""
    account = db.session.get(Account, account_id) or abort(404)
    contacts = contact_services.account_contacts(account.id, Window.from_args(request.args),
                                                  current_app.config["PAGE_SIZE"])
    return render_template("accounts/detail.html", account=account, contacts=contacts)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Create an account."""
    return _edit(None)


@bp.route("/<int:account_id>/edit", methods=["GET", "POST"])
@login_required
def edit(account_id: int):
    """Edit an account."""
    return _edit(db.session.get(Account, account_id) or abort(404))


def _edit(account: Account | None):
    form = AccountForm(obj=account)
    return edit_page(form, lambda: services.save_account(account, form.data), refused=services.AccountInvalid,
                     error_field="name", saved_message=lambda saved: f"Account {saved.name} saved.",
                     next_url=lambda saved: url_for(".detail", account_id=saved.id), template="accounts/form.html",
                     account=account)
