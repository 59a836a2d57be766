"""The license package form."""
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class PackageForm(FlaskForm):
    """A package's name and seat limit (empty = unlimited)."""

    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    seat_limit = IntegerField("Seat limit", validators=[Optional(), NumberRange(min=0, max=10_000_000)],
                              description="Leave empty for an unlimited package.")
