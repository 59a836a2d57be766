"""Contact form: lookups are chosen by name."""
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from crm.contacts.fields import CONTACT_FIELDS


class ContactForm(FlaskForm):
    """Every contact field; Account is typed (with suggestions), Type and Department are chosen."""

    given_name = StringField("Given name", validators=[Optional(), Length(max=100)])
    surname = StringField("Surname", validators=[Optional(), Length(max=100)])
    full_name = StringField("Full name", validators=[Optional(), Length(max=250)],
                            description="Left empty, it is made from given name and surname.")
    email = StringField("Email", validators=[Optional(), Length(max=254)])
    phone = StringField("Business phone", validators=[Optional(), Length(max=50)])
    mobile_phone = StringField("Mobile phone", validators=[Optional(), Length(max=50)])
    job_title = StringField("Job title", validators=[Optional(), Length(max=150)])
    account = StringField("Account", validators=[Optional(), Length(max=200)])
    type = SelectField("Type", choices=[], validate_choice=False)
    department = SelectField("Department", choices=[], validate_choice=False)
    city = StringField("City", validators=[Optional(), Length(max=100)])
    notes = TextAreaField("Notes", validators=[Optional(), Length(max=4000)])

    def set_lookup_choices(self, types: list[str], departments: list[str]) -> None:
        """Offer the existing Types and Departments (plus "none")."""
        self.type.choices = [("", "—")] + [(n, n) for n in types]
        self.department.choices = [("", "—")] + [(n, n) for n in departments]

    def values(self) -> dict[str, str]:
        """The submitted values keyed by contact field."""
        return {f.key: self[f.key].data for f in CONTACT_FIELDS}
