"""Contacts: list with search as you type, detail, create, edit, delete."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crm.auth.access import permission_required, refuse
from crm.auth.permissions import CONTACTS_CREATE, CONTACTS_DELETE, CONTACTS_EDIT, CONTACTS_VIEW
from crm.contacts import services
from crm.contacts.fields import FIELDS_BY_KEY
from crm.contacts.forms import ContactForm
from crm.contacts.models import Contact
from crm.extensions import db
from crm.pagination import Window

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


@bp.app_template_filter("field_label")
def field_label(key: str) -> str:
    """A contact field's label for its key ("given_name" -> "Given name"); other keys as they are."""
    return FIELDS_BY_KEY[key].label if key in FIELDS_BY_KEY else key


@bp.get("")
@permission_required(CONTACTS_VIEW)
def index():
    """The contact list (its place in the query string); an htmx search or paging request gets the partial."""
    q = request.args.get("q", "")[:200]
    sort = request.args.get("sort", "name")
    descending = request.args.get("dir") == "desc"
    page = services.search_contacts(q, sort, descending, Window.from_args(request.args),
                                     current_app.config["PAGE_SIZE"], **_scope())
    context = {"page": page, "q": q, "sort": sort, "descending": descending}
    if request.htmx and request.htmx.target == "contact-results":
        return render_template("contacts/_results.html", **context)
    return render_template("contacts/index.html", **context)


@bp.get("/<int:contact_id>")
@login_required
def detail(contact_id: int):
    """One contact with every field."""
    contact = _get(contact_id, CONTACTS_VIEW)
    from crm.auth.models import User

    user = db.session.scalar(db.select(User).where(User.contact_id == contact.id))
    return render_template("contacts/detail.html", contact=contact, user=user)


@bp.route("/new", methods=["GET", "POST"])
@permission_required(CONTACTS_CREATE)
def create():
    """Create a contact (an external user's contacts belong to their own account)."""
    form = _form()
    if form.validate_on_submit():
        try:
            contact = services.create_contact(_own_account(form.values()))
        except services.ContactInvalid as invalid:
            _show_errors(form, invalid)
        else:
            db.session.commit()
            flash(f"Contact {contact.full_name} created.", "success")
            return redirect(url_for(".detail", contact_id=contact.id))
    return render_template("contacts/form.html", form=form, contact=None)


@bp.route("/<int:contact_id>/edit", methods=["GET", "POST"])
@login_required
def edit(contact_id: int):
    """Edit a contact (one's own contact needs no edit permission); only changed fields are audited."""
    contact = _get(contact_id, CONTACTS_EDIT)
    form = _form(data=services.contact_values(contact) if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            changes = services.update_contact(contact, _own_account(form.values()))
        except services.ContactInvalid as invalid:
            db.session.rollback()
            _show_errors(form, invalid)
        else:
            db.session.commit()
            flash("Contact saved." if changes else "Nothing changed.", "success" if changes else "info")
            return redirect(url_for(".detail", contact_id=contact.id))
    return render_template("contacts/form.html", form=form, contact=contact)


@bp.post("/<int:contact_id>/delete")
@permission_required(CONTACTS_DELETE)
def delete(contact_id: int):
    """Delete a contact (refused for a contact that belongs to a user)."""
    contact = _get(contact_id, CONTACTS_DELETE)
    try:
        services.delete_contact(contact)
    except services.ContactInvalid as invalid:
        flash(next(iter(invalid.errors.values())), "error")
        return redirect(url_for(".detail", contact_id=contact.id))
    db.session.commit()
    flash(f"Contact {contact.full_name} deleted.", "success")
    return redirect(url_for(".index"))


def _scope() -> dict:
    """An external user sees only the contacts of their own account."""
    return {"within": current_user.account_id} if current_user.is_external else {}


def _get(contact_id: int, permission: str) -> Contact:
    """The contact, if the user may do this to it: their own contact with a license seat; another one with the
    permission, and for an external user only within their own account (else it does not exist for them)."""
    contact = db.session.get(Contact, contact_id) or abort(404)
    if contact.id == current_user.contact_id and current_user.has_seat:
        return contact
    if current_user.is_external and (contact.account_id is None or contact.account_id != current_user.account_id):
        abort(404)
    if not current_user.can(permission):
        refuse()
    return contact


def _own_account(values: dict) -> dict:
    """An external user's contacts stay in their own account, whatever the form says."""
    if current_user.is_external:
        own = current_user.contact.account if current_user.contact else None
        values = values | {"account": own.name if own else None}
    return values


def _form(data: dict | None = None) -> ContactForm:
    form = ContactForm(data=data)
    form.set_lookup_choices(services.lookup_names("type"), services.lookup_names("department"))
    return form


def _show_errors(form: ContactForm, invalid: services.ContactInvalid) -> None:
    for key, message in invalid.errors.items():
        field = form[key] if key in form else form.full_name
        field.errors = list(field.errors) + [message]
