"""Account form."""
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional


class AccountForm(FlaskForm):
    """A company's name and a few details."""

    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    industry = StringField("Industry", validators=[Optional(), Length(max=100)])
    city = StringField("City", validators=[Optional(), Length(max=100)])
    web = StringField("Web", validators=[Optional(), Length(max=200)])
