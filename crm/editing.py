"""The create/edit page that accounts, roles, license packages and lookups share: on a valid POST save, commit,
flash and redirect; when the service refuses, roll back and show its message on the form."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template
from flask_wtf import FlaskForm

from crm.extensions import db


def edit_page(form: FlaskForm, save: Callable[[], Any], *, refused: type[Exception] | tuple[type[Exception], ...],
              error_field: str, saved_message: Callable[[Any], str], next_url: Callable[[Any], str], template: str,
              **context: Any):
    """Run `save` for a valid POST (all or nothing) and redirect to `next_url(saved)`; else render the form page."""
    if form.validate_on_submit():
        try:
            saved = save()
        except refused as error:
            db.session.rollback()
            form[error_field].errors = [str(error)]
        else:
            db.session.commit()
            flash(saved_message(saved), "success")
            return redirect(next_url(saved))
    return render_template(template, form=form, **context)
