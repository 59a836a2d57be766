"""Reclaim seats from the Licenses page: a preview of the dormant users and the seats they free, then a confirmation
that deactivates exactly the users the administrator saw (those who signed in since keep their seats)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from crm.auth.access import admin_required
from crm.extensions import db
from crm.users import dormant

bp = Blueprint("reclaim", __name__, url_prefix="/licenses/reclaim")
MAX_CONFIRMED = 10_000  # user ids one confirmation may carry (a preview lists every dormant user)


@bp.get("")
@admin_required
def preview():
    """Who would be deactivated as dormant, when each last signed in, and which seats go back to the pool."""
    found = dormant.find_dormant()
    return render_template("users/reclaim.html", dormant=found, freed=dormant.freed_seats(found),
                           providers=dormant.reclaim_is_on())


@bp.post("")
@admin_required
def confirm():
    """Deactivate the users the preview listed who are still dormant; one audit event each."""
    chosen = request.form.getlist("user_id")
    if not chosen or len(chosen) > MAX_CONFIRMED or not all(value.isdigit() for value in chosen):
        flash("Nothing was reclaimed: the confirmation did not name the users of a preview. Review the list and "
              "confirm again.", "error")
        return redirect(url_for(".preview"))
    done = dormant.reclaim(only={int(value) for value in chosen})
    db.session.commit()
    seats = sum(len(user.seats) for user in done)
    if not done:
        flash("Nothing was reclaimed: every user in the preview has signed in or changed since.", "info")
    else:
        flash(f"Deactivated {len(done)} dormant user{'s' if len(done) != 1 else ''}; {seats} "
              f"seat{'s' if seats != 1 else ''} released.", "success")
    return redirect(url_for("licensing.index"))
