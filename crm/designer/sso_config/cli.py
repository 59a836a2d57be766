"""`flask --app app sso ...`: the Single Sign On configuration from the command line."""
from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from crm.designer.sso_config.scim_views import scim_url
from crm.designer.sso_config.sp_key_cli import sp_key_cli
from crm.extensions import db
from crm.identity_providers import mappings, scim_tokens, transfer
from crm.identity_providers import services as providers
from crm.identity_providers.certificates import CertificateInvalid, parse_certificate, read_certificates
from crm.identity_providers.config import config_of
from crm.identity_providers.console_policy import PolicyInvalid, console_policy, set_idle_timeout
from crm.identity_providers.expiry import providers_at_risk
from crm.identity_providers.metadata_source import FetchFailed, metadata_url_error
from crm.identity_providers.policy import EVERY_LOGIN, FIRST_LOGIN, LICENSES_ALL, LICENSES_SELECTED, LINK_BY
from crm.identity_providers.presets import PRESETS
from crm.identity_providers.transforms import SPELLINGS, TransformInvalid, parse
from crm.sso.metadata import ChooseIdentityProvider, MetadataInvalid, parse_idp_metadata
from crm.sso.refresh import fetch_published, mark_refreshed, refresh_all
from crm.sso.report import build_report
from crm.timeutil import utcnow

sso_cli = AppGroup("sso", help="Identity providers and their mapping lookups (configuration as code).")
sso_cli.add_command(sp_key_cli)
ON_OFF = click.Choice(["on", "off"])


class HoursOrNone(click.ParamType):
    """A whole number of hours, or "none" (the console's own maximum); anything else is malformed (exit 2). The
    range is the provider services' to check, so the CLI and the page give the same reason."""

    name = "N|none"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value is None:
            return value
        if str(value).strip().lower() == "none":
            return ""
        try:
            return int(value)
        except ValueError:
            self.fail(f"{value!r} is not a whole number of hours (or none).", param, ctx)


def _fail(message: str) -> None:
    from crm.cli import fail

    db.session.rollback()
    fail(message)


def _commit_or_fail(action) -> object:
    """Run a change; on any validation error roll back and exit with the message."""
    try:
        result = action()
    except (providers.ProviderInvalid, mappings.MappingInvalid) as invalid:
        _fail("; ".join(f"{k}: {v}" for k, v in invalid.errors.items()))
    except (CertificateInvalid, MetadataInvalid, transfer.ImportInvalid, PolicyInvalid) as error:
        _fail(str(error))
    db.session.commit()
    return result


def _provider(slug: str):
    provider = providers.find_provider(slug)
    if provider is None:
        _fail(f"no identity provider with slug {slug}.")
    return provider


@sso_cli.command("add-idp")
@click.argument("slug")
@click.option("--metadata-file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--metadata-url", help="Fetch the metadata from this URL, and refresh it from there later.")
@click.option("--metadata-signing-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM of the certificate the (federation's) metadata must be signed with.")
@click.option("--entity-id", help="Which IdP to take from a federation's metadata.")
@click.option("--display-name", help="Name on the login button (default: from the metadata).")
@click.option("--jit/--no-jit", default=False, show_default=True, help="Just-In-Time provisioning.")
@click.option("--allow-idp-initiated/--no-allow-idp-initiated", default=False, show_default=True)
def add_idp(slug, metadata_file, metadata_url, metadata_signing_cert, entity_id, display_name, jit,
            allow_idp_initiated) -> None:
    """Add an identity provider from its metadata file or URL."""
    if providers.find_provider(slug):
        _fail(f"an identity provider with slug {slug} already exists (use `sso set`).")
    if bool(metadata_file) == bool(metadata_url):
        _fail("give the metadata as exactly one of --metadata-file FILE or --metadata-url URL.")
    signing_cert = _signing_cert(metadata_signing_cert.read_text()) if metadata_signing_cert else None
    try:
        if metadata_url:
            if message := metadata_url_error(metadata_url, current_app):
                _fail(message)
            metadata = fetch_published(metadata_url, entity_id, signing_cert)
        else:
            metadata = parse_idp_metadata(metadata_file.read_bytes(), entity_id)
    except ChooseIdentityProvider as choose:
        _fail(f"{choose} Pass --entity-id with one of: {', '.join(choose.entity_ids[:10])}"
              + (" ..." if len(choose.entity_ids) > 10 else ""))
    except (MetadataInvalid, FetchFailed) as invalid:
        _fail(str(invalid))
    values = {"slug": slug, "display_name": display_name or slug, "entity_id": metadata.entity_id,
              "sso_url": metadata.sso_url, "sso_binding": metadata.sso_binding, "slo_url": metadata.slo_url,
              "jit_enabled": jit, "allow_idp_initiated": allow_idp_initiated, "enabled": True, "show_on_login": True,
              "metadata_url": metadata_url, "metadata_signing_cert": signing_cert}

    def add():
        provider = providers.save_provider(None, values, list(metadata.certificates))
        if metadata_url:
            mark_refreshed(provider.id)
        return provider

    provider = _commit_or_fail(add)
    click.echo(f"Identity provider {provider.slug} added ({len(metadata.certificates)} signing certificate(s))."
               + "".join(f"\n  note: {n}" for n in metadata.notes))


def _signing_cert(text: str) -> str:
    try:
        return parse_certificate(text).pem
    except CertificateInvalid as error:
        _fail(f"--metadata-signing-cert: {error}")


@sso_cli.command("set")
@click.argument("slug")
@click.option("--jit", type=ON_OFF)
@click.option("--allow-idp-initiated", type=ON_OFF)
@click.option("--show-on-login", type=ON_OFF)
@click.option("--enabled", type=ON_OFF)
@click.option("--signed-logout", type=ON_OFF, help="on: the IdP signs its logout messages; unsigned ones are refused.")
@click.option("--scim", type=ON_OFF, help="on: the directory may provision users through /scim/v2 (with a token).")
@click.option("--users-from", type=click.Choice(["jit", "scim", "both"]),
              help="Where users come from: SAML sign-in (jit), the directory (scim) or both.")
@click.option("--licenses", help='"all", or package names separated by commas.')
@click.option("--email-domains", "--allowed-domains", "allowed_domains",
              help="Comma-separated email domains: the login page sends them to this provider, and only they are "
                   "linked and admitted; empty string: every domain.")
@click.option("--enforce", type=ON_OFF, help="on: its users cannot sign in with a password (break-glass "
                                             "administrators can); needs a passed Test Sign In within the hour.")
@click.option("--required-groups", help="Comma-separated; empty string lets everyone in.")
@click.option("--groups-attribute")
@click.option("--user-type", type=click.Choice(["employee", "external"]))
@click.option("--display-name")
@click.option("--dormant-days", metavar="N|off",
              help="Deactivate JIT users who have not signed in for N days and release their seats; off: never.")
@click.option("--certificate-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Replace the signing certificate(s) with the PEM file's.")
@click.option("--metadata-url", help='Refresh the metadata from this URL ("" for none).')
@click.option("--metadata-signing-cert", metavar="PEM_FILE",
              help='The certificate the metadata must be signed with ("" for none).')
@click.option("--clock-skew", type=int, metavar="SECONDS",
              help="0 to 300: how far the IdP's clock may be off when NotBefore and NotOnOrAfter are checked.")
@click.option("--session-hours", type=HoursOrNone(),
              help="1 to 720: the longest a session signed in through the provider lasts; none: the console's own.")
@click.option("--force-authn", type=ON_OFF, help="on: every sign-in asks the IdP to authenticate the user again.")
@click.option("--link-by", type=click.Choice(LINK_BY),
              help="How a first sign-in links an existing account: username = NameID, email = the mapped email "
                   "(unique, in the email domains), or never (an administrator links it).")
@click.option("--immutable-id-attribute", metavar="ATTR",
              help='The attribute with a stable user id (it also identifies people when the NameID is transient); '
                   '"" for none.')
@click.option("--hint-in-subject", type=ON_OFF,
              help="on: the login page's email goes in the AuthnRequest's Subject/NameID too (login_hint always).")
@click.option("--sign-requests", type=ON_OFF, help="on: AuthnRequests and logout messages are signed with our key.")
@click.option("--want-encrypted", type=ON_OFF, help="on: an assertion that is not encrypted is refused.")
def set_command(slug, jit, allow_idp_initiated, show_on_login, enabled, signed_logout, scim, users_from, licenses,
                allowed_domains, enforce, required_groups, groups_attribute, user_type, display_name, dormant_days,
                certificate_file, metadata_url, metadata_signing_cert, clock_skew, session_hours, force_authn,
                link_by, immutable_id_attribute, hint_in_subject, sign_requests, want_encrypted) -> None:
    """Change a provider's settings."""
    provider = _provider(slug)
    values = providers.provider_values(provider)
    for key, flag in (("jit_enabled", jit), ("allow_idp_initiated", allow_idp_initiated),
                      ("show_on_login", show_on_login), ("enabled", enabled), ("logout_signed", signed_logout),
                      ("scim_enabled", scim), ("enforce_sso", enforce), ("force_authn", force_authn),
                      ("sign_requests", sign_requests), ("want_encrypted", want_encrypted),
                      ("hint_in_subject", hint_in_subject)):
        if flag is not None:
            values[key] = flag == "on"
    if licenses is not None:
        selected = licenses.strip().lower() != LICENSES_ALL
        values["license_policy"] = LICENSES_SELECTED if selected else LICENSES_ALL
        values["licenses"] = providers.split_list(licenses) if selected else []
    for key, value in (("allowed_domains", allowed_domains), ("required_groups", required_groups),
                       ("groups_attribute", groups_attribute), ("new_user_type", user_type),
                       ("display_name", display_name), ("users_from", users_from), ("dormant_days", dormant_days),
                       ("metadata_url", metadata_url), ("clock_skew_seconds", clock_skew),
                       ("session_max_hours", session_hours), ("link_by", link_by),
                       ("immutable_id_attribute", immutable_id_attribute)):
        if value is not None:
            values[key] = value
    if metadata_signing_cert is not None:
        path = Path(metadata_signing_cert)
        if metadata_signing_cert and not path.is_file():
            _fail(f"--metadata-signing-cert: no file {metadata_signing_cert}.")
        values["metadata_signing_cert"] = path.read_text() if metadata_signing_cert else None

    def change():
        providers.save_provider(provider, values)
        if certificate_file:
            transfer._sync_certificates(provider, read_certificates(certificate_file.read_text()))

    _commit_or_fail(change)
    click.echo(f"Identity provider {slug} updated.")


class TransformSpec(click.ParamType):
    """A mapping transform as typed; one that cannot be read is malformed (exit 2, with the reason)."""

    name = "TRANSFORM"

    def convert(self, value, param, ctx):
        try:
            transform = parse(value)
        except TransformInvalid as error:
            self.fail(str(error), param, ctx)
        return transform.spec if transform else None


@sso_cli.command("map")
@click.argument("slug")
@click.option("--attribute", required=True, help="The SAML attribute name, exactly as the IdP sends it.")
@click.option("--field", "field_key", required=True, help="The contact field (e.g. email, department).")
@click.option("--default", "default_value", help="Column default value, used when the attribute is absent.")
@click.option("--update-on", type=click.Choice(["every-login", "first-login"]), default="every-login",
              show_default=True)
@click.option("--transform", type=TransformSpec(), help=f"One value transform: {SPELLINGS}. Without it the row has "
                                                         "none (the first value as sent).")
def map_command(slug, attribute, field_key, default_value, update_on, transform) -> None:
    """Map a SAML attribute to a contact field (a row for the same field is updated, as given)."""
    provider = _provider(slug)
    row = next((m for m in provider.attribute_mappings if m.contact_field == field_key), None)
    update = EVERY_LOGIN if update_on == "every-login" else FIRST_LOGIN
    _commit_or_fail(lambda: mappings.save_attribute_mapping(provider, row, attribute, field_key, default_value,
                                                            update, transform))
    click.echo(f"{'Updated' if row else 'Added'} mapping {attribute} → {field_key}"
               + (f" (transform {transform})." if transform else "."))


@sso_cli.command("map-group")
@click.argument("slug")
@click.option("--attribute", required=True)
@click.option("--value", required=True, help="Group name or object id (matched ignoring case).")
@click.option("--role", required=True)
def map_group(slug, attribute, value, role) -> None:
    """Map an IdP group to a role."""
    provider = _provider(slug)
    _commit_or_fail(lambda: mappings.add_role_mapping(provider, attribute, value, role))
    click.echo(f"Group {value} mapped to role {role}.")


@sso_cli.command("preset")
@click.argument("slug")
@click.argument("preset", type=click.Choice(list(PRESETS)))
def preset_command(slug, preset) -> None:
    """Fill the mapping with an IdP's claim names; existing rows are kept."""
    provider = _provider(slug)
    added = _commit_or_fail(lambda: mappings.apply_preset(provider, preset))
    click.echo(f"Preset {preset} applied: {len(added)} row(s) added.")


@sso_cli.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_command(as_json) -> None:
    """List identity providers."""
    now = utcnow()
    rows = [{"slug": p.slug, "display_name": p.display_name, "entity_id": p.entity_id, "enabled": p.enabled,
             "jit_enabled": p.jit_enabled, "allow_idp_initiated": p.allow_idp_initiated,
             "show_on_login": p.show_on_login, "attribute_mappings": len(p.attribute_mappings),
             "role_mappings": len(p.role_mappings),
             "certificates": [{"subject": c.subject, "fingerprint": c.fingerprint_sha256,
                               "not_before": c.not_before.isoformat(), "not_after": c.not_after.isoformat(),
                               "expired": c.not_after <= now} for c in p.certificates],
             "metadata_url": p.metadata_url,
             "last_refreshed": p.last_refreshed.isoformat() if p.last_refreshed else None,
             "refresh_error": p.refresh_error}
            for p in providers.all_providers()]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row['slug']}\t{row['display_name']}\tJIT {'on' if row['jit_enabled'] else 'off'}\t"
                   f"{row['entity_id']}")


@sso_cli.command("refresh")
@click.argument("slug", required=False)
@click.option("--json", "as_json", is_flag=True)
def refresh_command(slug, as_json) -> None:
    """Refresh a provider (or every provider with a metadata URL) from its metadata URL; exit 1 if one failed."""
    if slug:
        provider = _provider(slug)
        if not provider.metadata_url:
            _fail(f"{slug} has no metadata URL (set one with `sso set {slug} --metadata-url URL`).")
    results = refresh_all(slug)
    if as_json:
        click.echo(json.dumps([r.as_json() for r in results], indent=2, ensure_ascii=False))
    else:
        for result in results:
            click.echo(result.summary(), err=not result.ok)
        if not results:
            click.echo("No provider has a metadata URL.")
    if any(not r.ok for r in results):
        raise SystemExit(1)


@sso_cli.command("session-policy")
@click.option("--idle-minutes", type=int, metavar="N",
              help="5 to 1440: every session (password and SSO) ends after this long unused, at once for open ones.")
@click.option("--json", "as_json", is_flag=True)
def session_policy_command(idle_minutes, as_json) -> None:
    """Show the console-wide session settings, or change the idle timeout."""
    if idle_minutes is not None:
        changed = _commit_or_fail(lambda: set_idle_timeout(idle_minutes))
        if not as_json:
            click.echo(f"Sessions end after {idle_minutes} minutes unused" + ("." if changed else " (unchanged)."))
            return
    policy = console_policy()
    if as_json:
        click.echo(json.dumps(policy, indent=2))
    else:
        click.echo(f"Idle timeout: {policy['session_idle_minutes']} minutes\n"
                   f"Longest session: {policy['session_max_hours']} hours (CRM_SESSION_MAX_HOURS; a provider may set "
                   "less)")


@sso_cli.command("check")
@click.option("--json", "as_json", is_flag=True)
def check_command(as_json) -> None:
    """List providers whose last signing certificate expires within 30 days; exit 1 when there is one (monitoring)."""
    at_risk = providers_at_risk()
    if as_json:
        click.echo(json.dumps([r.as_json() for r in at_risk], indent=2, ensure_ascii=False))
    elif at_risk:
        for row in at_risk:
            click.echo(f"{row.slug}\t{row.level}\t{row.message()}")
    else:
        click.echo("No provider's signing certificates run out within 30 days.")
    if at_risk:
        raise SystemExit(1)


@sso_cli.command("export")
@click.argument("slug", required=False)
def export_command(slug) -> None:
    """Print the configuration (all providers, or one) as JSON."""
    try:
        data = transfer.export_config(slug)
    except transfer.ImportInvalid as error:
        _fail(str(error))
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@sso_cli.command("inspect")
@click.argument("slug")
@click.option("--file", "response_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="A file holding the base64 SAMLResponse.")
@click.option("--json", "as_json", is_flag=True)
def inspect_command(slug, response_file, as_json) -> None:
    """Check a SAMLResponse against a provider and show what JIT would do (nothing is provisioned)."""
    report = build_report(config_of(_provider(slug)), response_file.read_text())
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        return
    click.echo(report["verdict"])
    for check in report["checks"]:
        mark = {True: "pass", False: "FAIL", None: "n/a "}[check["passed"]]
        click.echo(f"  [{mark}] {check['label']}: {check['detail']}" + (f"\n         hint: {check['hint']}"
                                                                        if check["hint"] else ""))
    if report["name_id"]:
        click.echo(f"NameID: {report['name_id']} ({report['name_id_format'] or 'no format'})")
        for name, values in report["attributes"].items():
            click.echo(f"  {name} = {', '.join(values)}")
    if report["dry_run"]:
        dry = report["dry_run"]
        click.echo(f"Dry run: {dry['user']}" + (f" — refused: {dry['refusal']['reason']}" if dry["refusal"] else ""))
        for change in dry["fields"]:
            click.echo(f"  {change['field']}: {change['before']!r} -> {change['after']!r} ({change['source']})")
        for hint in dry["hints"]:
            click.echo(f"  hint: {hint}")


@sso_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(file) -> None:
    """Create or update providers from an export; one bad row and nothing changes."""
    try:
        data = json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as error:
        _fail(f"{file} is not JSON: {error}")
    done = _commit_or_fail(lambda: transfer.import_config(data))
    click.echo("Imported: " + (", ".join(done) or "nothing"))


@sso_cli.command("scim-token")
@click.argument("slug")
@click.option("--revoke", "revoke_id", type=int, metavar="TOKEN_ID", help="Revoke this token instead.")
@click.option("--json", "as_json", is_flag=True)
def scim_token_command(slug, revoke_id, as_json) -> None:
    """Print a new SCIM bearer token for the provider (shown once), or revoke one."""
    provider = _provider(slug)
    if revoke_id is not None:
        row = scim_tokens.find_token(provider, revoke_id)
        if row is None:
            _fail(f"{slug} has no SCIM token {revoke_id}.")
        done = scim_tokens.revoke(row)
        db.session.commit()
        click.echo(f"SCIM token {revoke_id} of {slug} {'revoked' if done else 'was revoked already'}.")
        return
    row, secret = scim_tokens.new_token(provider)
    db.session.commit()
    url = scim_url()
    if as_json:
        click.echo(json.dumps({"token": secret, "scim_url": url, "token_id": row.id}))
        return
    click.echo(f"SCIM base URL: {url}\nToken {row.id} (shown once, keep it in the directory's settings):\n{secret}"
               + ("" if provider.scim_enabled else f"\nnote: SCIM is off for {slug}: `sso set {slug} --scim on`."))

