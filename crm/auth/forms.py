"""Local sign-in form."""
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class IdentifyForm(FlaskForm):
    """The login page's first question: who are you (home realm discovery)?"""

    username = StringField("Email or username", validators=[DataRequired(), Length(max=250)])


class LoginForm(FlaskForm):
    """Username and password (local users, and break-glass administrators where single sign-on is required)."""

    username = StringField("Username", validators=[DataRequired(), Length(max=250)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=500)])
