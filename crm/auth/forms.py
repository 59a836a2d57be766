"""Local sign-in form."""
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    """Username and password for break-glass administrators."""

    username = StringField("Username", validators=[DataRequired(), Length(max=250)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=500)])
