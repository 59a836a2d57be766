"""Forms of the Single Sign On configuration pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from crm.auth.sessions import IDLE_MINUTES_RANGE
from crm.contacts.fields import CONTACT_FIELDS
from crm.identity_providers.mappings import UPDATE_ON
from crm.identity_providers.policy import LICENSES_ALL, LICENSES_SELECTED
from crm.identity_providers.presets import PRESETS


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class ProviderForm(FlaskForm):
    """A provider's settings (Creatio's words where Creatio has them)."""

    display_name = StringField("Display name", validators=[Length(max=100)],
                               description="Shown on the login button: “Login via SSO (…)”.")
    slug = StringField("Slug", validators=[Length(max=60)], description="Used in this provider's URLs.")
    entity_id = StringField("Entity ID", validators=[Length(max=500)], description="The IdP's Entity ID (Issuer).")
    sso_url = StringField("Single Sign On URL", validators=[Length(max=1000)])
    sso_binding = SelectField("Sign-on binding", choices=[("redirect", "HTTP-Redirect"), ("post", "HTTP-POST")])
    slo_url = StringField("Single Logout URL", validators=[Optional(), Length(max=1000)])
    logout_signed = BooleanField("The IdP signs its logout messages",
                                 description="Unsigned logout requests and responses from it are then refused. "
                                             "A signed one is always verified.")
    metadata_url = StringField("Metadata URL", validators=[Optional(), Length(max=1000)],
                               description="Where the IdP publishes its metadata. Certificates and URLs are "
                                           "refreshed from it on their own (every 24 hours by default) and with "
                                           "Refresh now.")
    metadata_signing_cert = TextAreaField("Metadata signer's certificate", validators=[Optional(), Length(max=20000)],
                                          render_kw={"class": "mono", "rows": 3},
                                          description="Federations sign their metadata: with this PEM certificate, "
                                                      "a fetched document is used only when its signature verifies "
                                                      "with it and its validUntil lies ahead. Empty: not required.")
    enabled = BooleanField("Enabled", default=True, description="Off: nobody can sign in through this provider.")
    jit_enabled = BooleanField("Create and update users data when log in (Just-In-Time Provisioning)",
                               description="Unknown users are created on their first login; contacts and roles are "
                                           "brought up to date at every login.")
    show_on_login = BooleanField("Display login via SSO", default=True,
                                 description="Show a “Login via SSO” button for this provider on the login page.")
    allow_idp_initiated = BooleanField("Allow IdP-initiated sign-in",
                                       description="Accept sign-ins started from the IdP's portal (app tiles). "
                                                   "Off: only sign-ins this CRM started are accepted.")
    license_policy = RadioField("Licenses for new users", default=LICENSES_ALL, validate_choice=False, choices=[
        (LICENSES_ALL, "All available licenses (every package with a free seat)"),
        (LICENSES_SELECTED, "Only the packages chosen below")])
    licenses = MultiCheckboxField("Packages", choices=[], validate_choice=False)
    new_user_type = SelectField("User type of new users", choices=[("employee", "Employee"), ("external", "External")])
    allowed_domains = TextAreaField("Email domains", validators=[Length(max=4000)],
                                    description="One per line or comma-separated. The login page sends people of "
                                                "these domains to this provider, and only they are linked and "
                                                "admitted. Empty: every domain (and no home realm).")
    enforce_sso = BooleanField("Require single sign-on for its users",
                               description="Its users, and local users whose username or email is in its email "
                                           "domains, cannot sign in with a password (break-glass administrators "
                                           "can). Needs a Test Sign In that passed within the last hour and a "
                                           "break-glass administrator.")
    required_groups = TextAreaField("Required groups", validators=[Length(max=4000)],
                                    description="The user must be in at least one. Empty: everyone the IdP sends.")
    groups_attribute = StringField("Groups attribute", validators=[Optional(), Length(max=500)],
                                   description="The SAML attribute that lists the user's groups (for required "
                                               "groups).")
    immutable_id_attribute = StringField("Immutable ID attribute", validators=[Optional(), Length(max=500)],
                                         description="A stable user id the IdP sends (Entra: objectidentifier; "
                                                     "mail or eduPersonPrincipalName elsewhere). Needed when the IdP "
                                                     "sends a transient (one-time) NameID, SimpleSAMLphp's default: "
                                                     "it then identifies the person and gives the username.")

    link_by = SelectField("Link an existing account by", choices=[
        ("username", "Username = NameID"), ("email", "Email = the mapped email attribute"),
        ("never", "Never (an administrator links it)")], default="username",
        description="How a first sign-in finds a local account that is not linked yet. Accounts with a password or "
                    "an administrator role are never linked automatically; email links only a unique email in the "
                    "email domains.")

    dormant_days = StringField("Reclaim seats after N days without sign-in", validators=[Optional(), Length(max=10)],
                               render_kw={"inputmode": "numeric"},
                               description="A user this provider created who has not signed in for this many days "
                                           "(or since creation) is deactivated and their seats are released; their "
                                           "next sign-in brings them back when a seat is free. Administrators and "
                                           "users from SCIM never are. Empty: never.")
    # Whole numbers, typed as text so that the services give the one message for a bad value (as the CLI gets).
    clock_skew_seconds = StringField("Clock skew (seconds)", default="120", validators=[Length(max=20)],
                                     render_kw={"inputmode": "numeric"},
                                     description="0 to 300. How far the IdP's clock may be off this server's when "
                                                 "the assertion's NotBefore and NotOnOrAfter are checked.")
    session_max_hours = StringField("Session lifetime (hours)", validators=[Length(max=20)],
                                    render_kw={"inputmode": "numeric"},
                                    description="1 to 720: a session signed in through this provider ends this long "
                                                "after its sign-in (sooner when the IdP's SessionNotOnOrAfter says "
                                                "so). Empty: the console's own maximum.")
    hint_in_subject = BooleanField("Pass the login hint in the AuthnRequest (Subject/NameID)",
                                   description="The email typed on the login page goes to the IdP inside the request "
                                               "too, for IdPs that read it there (every IdP gets it as login_hint).")
    force_authn = BooleanField("Force re-authentication (ForceAuthn)",
                               description="Every sign-in asks the IdP to authenticate the user again, even when "
                                           "the IdP's own session is still alive.")
    sign_requests = BooleanField("Sign authentication requests",
                                 description="Our AuthnRequests (and logout messages) are signed with our active key "
                                             "(RSA-SHA256): for an IdP that wants signed requests.")
    want_encrypted = BooleanField("Require encrypted assertions",
                                  description="An assertion that is not encrypted for one of our keys is refused. "
                                              "Encrypted ones are accepted either way.")

    def values(self) -> dict:
        """Submitted settings for the provider services."""
        return {name: self[name].data for name in (
            "display_name", "slug", "entity_id", "sso_url", "sso_binding", "slo_url", "logout_signed", "enabled",
            "jit_enabled",
            "show_on_login", "allow_idp_initiated", "license_policy", "licenses", "new_user_type",
            "allowed_domains", "enforce_sso", "required_groups", "groups_attribute", "immutable_id_attribute",
            "dormant_days", "metadata_url", "metadata_signing_cert", "clock_skew_seconds", "session_max_hours",
            "force_authn", "link_by", "sign_requests", "want_encrypted", "hint_in_subject")}


class NewProviderForm(ProviderForm):
    """A new provider: settings plus metadata to import and a first certificate."""

    metadata_xml = TextAreaField("Paste the IdP's metadata XML", validators=[Length(max=6_000_000)],
                                 render_kw={"class": "mono", "rows": 6})
    metadata_file = FileField("or upload the metadata file")
    metadata_entity = SelectField("Identity provider in this metadata", choices=[], validate_choice=False)
    certificate = TextAreaField("Signing certificate", validators=[Length(max=20000)], render_kw={"class": "mono"},
                                description="PEM, or the base64 text inside it. Filled in by the metadata import.")


class MetadataForm(FlaskForm):
    """Update an existing provider from fresh metadata."""

    metadata_xml = TextAreaField("Paste the IdP's metadata XML", validators=[Length(max=6_000_000)],
                                 render_kw={"class": "mono", "rows": 6})
    metadata_file = FileField("or upload the metadata file")
    metadata_entity = SelectField("Identity provider in this metadata", choices=[], validate_choice=False)


class CertificateForm(FlaskForm):
    """Add a signing certificate (rollover)."""

    certificate = TextAreaField("New signing certificate", validators=[Length(max=20000)], render_kw={"class": "mono"},
                                description="PEM, or the base64 text inside it.")


class AttributeMappingForm(FlaskForm):
    """A row of "SAML field name converters to contact field name"."""

    saml_attribute = StringField("SAML field attribute", validators=[Length(max=500)])
    contact_field = SelectField("Contact field name", validate_choice=False,
                                choices=[("", "Choose…")] + [(f.key, f.label) for f in CONTACT_FIELDS])
    default_value = StringField("Column default value", validators=[Optional(), Length(max=250)])
    transform = StringField("Transform", validators=[Optional(), Length(max=250)])
    update_on = SelectField("Update on", choices=list(UPDATE_ON.items()), validate_choice=False)


class RoleMappingForm(FlaskForm):
    """A row of "SAML groups to user roles"."""

    saml_attribute = StringField("Attribute", validators=[Length(max=500)])
    value = StringField("Group (name or object id)", validators=[Length(max=500)])
    role = SelectField("Role", choices=[], validate_choice=False)


class PresetForm(FlaskForm):
    """Fill the mapping with an IdP's claim names."""

    preset = SelectField("Preset", choices=[(p.key, p.label) for p in PRESETS.values()])


class SessionPolicyForm(FlaskForm):
    """The console-wide session setting on the Single Sign On configuration page."""

    idle_minutes = IntegerField(
        "Sign users out after this many minutes unused",
        validators=[InputRequired("Enter a number of minutes."),
                    NumberRange(*IDLE_MINUTES_RANGE, message="Enter a whole number of minutes from %(min)s to "
                                                             "%(max)s (24 hours).")],
        render_kw={"min": IDLE_MINUTES_RANGE[0], "max": IDLE_MINUTES_RANGE[1], "inputmode": "numeric"},
        description="For every session, password and single sign-on alike; it holds at once for the sessions open "
                    "now. A provider's own session lifetime and the identity provider's SessionNotOnOrAfter still "
                    "apply on top.")
