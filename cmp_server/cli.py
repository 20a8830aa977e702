"""``flask --app cmp_server cmp ...``: the operator's commands.

Each command is a thin shell around a service function; bad input is reported with the
field and reason on stderr and a non-zero exit, and changes nothing.
"""
from __future__ import annotations

import functools
import json
import os
import sys
from datetime import timezone
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from flask_migrate import upgrade

from cmp_server.accounts import members, users, workspaces
from cmp_server.consent import proof, retention, sealing, subjects, sync
from cmp_server.scanner import jobs
from cmp_server.sites import catalogue, gvl, registry, tcf, vendors
from cmp_server.demo import PLACEHOLDER_CMP_ID, default_origins, demo_url, ensure_demo, ensure_tcf_demo
from cmp_server.platform.errors import ServiceError
from cmp_server.platform.extensions import db
from cmp_server.models import Membership, ledger
from cmp_server.scanner.report import render_text
from cmp_server.scanner.browser import ScanOptions


cmp = AppGroup("cmp", help="Consent platform administration.")


def reports_service_errors(command):
    """Turn a ServiceError into a one-line message and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ServiceError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)

    return wrapper


@cmp.command("init", help="Create the database schema, or upgrade it to the newest version.")
def init_command():
    upgrade()
    click.echo(f"schema up to date ({current_app.config['SQLALCHEMY_DATABASE_URI'].split(':')[0]})")


@cmp.command("import-vendors", help="Load the vendor catalogue into the database (idempotent).")
@click.option(
    "--dir", "directory", type=click.Path(exists=True, file_okay=False),
    help="Catalogue directory (default: CMP_VENDORS_DIR or the shipped vendors/).",
)
def import_vendors_command(directory):
    report = vendors.import_catalogue(directory or current_app.config["CMP_VENDORS_DIR"], "cli")
    for line in report.lines():
        click.echo(line)
    if report.refused:
        sys.exit(1)


@cmp.command("check-vendors", help="Validate a catalogue directory (no database needed); "
                                   "exit 1 if any file is refused.")
@click.option("--dir", "directory", type=click.Path(exists=True, file_okay=False),
              help="Catalogue directory (default: CMP_VENDORS_DIR or the shipped vendors/).")
def check_vendors_command(directory):
    lines, valid = catalogue.check(Path(directory) if directory else None)
    for line in lines:
        click.echo(line)
    if not valid:
        sys.exit(1)


@cmp.command("create-site", help="Create a site; prints its key on the last line.")
@click.option("--name", required=True)
@click.option("--origin", "origins", multiple=True, help="Allowed origin, repeatable.")
@click.option("--default-language", default="en", show_default=True)
@click.option("--consent-months", type=int, default=12, show_default=True)
@click.option("--refusal-months", type=int, default=6, show_default=True)
@click.option("--controller-name", help="Data controller (needed before publishing).")
@click.option("--controller-address")
@click.option("--controller-country", help="ISO 3166-1 alpha-2, e.g. SE.")
@click.option("--controller-email")
@click.option("--policy-url", help="The site's privacy policy (needed before publishing).")
@click.option("--workspace", "workspace_name",
              help="The site's workspace, by name (needed when there are several).")
@reports_service_errors
def create_site_command(name, origins, default_language, consent_months, refusal_months,
                        controller_name, controller_address, controller_country,
                        controller_email, policy_url, workspace_name):
    controller = {
        "name": controller_name, "address": controller_address,
        "country": controller_country, "email": controller_email,
    }
    payload = {
        "name": name,
        "origins": list(origins),
        "default_language": default_language,
        "consent_lifetime_months": consent_months,
        "refusal_lifetime_months": refusal_months,
        "privacy_policy_url": policy_url,
    }
    if any(controller.values()):
        payload["controller"] = controller
    site = registry.create_site(payload, "cli", workspace_id(workspace_name))
    click.echo(f"created site {site.name!r} with origins: {', '.join(site.origin_list) or '(none)'}")
    click.echo(site.key)


def workspace_id(name: str | None) -> int | None:
    """A workspace's id from its name (None for none given)."""
    if name is None:
        return None
    found = workspaces.find_by_name(name)
    if found is None:
        raise click.ClickException(f"no workspace {name!r}")
    return found.id


@cmp.command("create-workspace", help="Create a workspace (an agency or a company).")
@click.option("--name", required=True)
@reports_service_errors
def create_workspace_command(name):
    workspace = workspaces.create_workspace({"name": name}, "cli")
    click.echo(f"created workspace {workspace.name!r} (id {workspace.id})")


@cmp.command("create-user", help="Create a console user: a member of a workspace with a "
                                 "role, an operator, or both. The password is asked for, or "
                                 "read from standard input with --password-stdin.")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(workspaces.ROLES),
              help="Their role in --workspace (or in the only workspace there is).")
@click.option("--workspace", "workspace_name", help="The workspace, by name.")
@click.option("--operator", is_flag=True, help="Manages workspaces and users; an admin "
                                               "in every workspace.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@reports_service_errors
def create_user_command(email, role, workspace_name, operator, password_stdin):
    if not role and not operator:
        raise click.UsageError("give --role (with --workspace when there are several), "
                               "--operator, or both")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    payload = {"email": email, "password": password, "operator": operator}
    if role:
        payload["role"] = role
        if workspace_name:
            payload["workspace"] = workspace_id(workspace_name)
    user = users.create_user(payload, "cli")
    click.echo(f"created {describe_user(user)}")


def describe_user(user) -> str:
    roles = ", ".join(f"{m.role} in {m.workspace.name}" for m in user.memberships)
    state = "active" if user.active else "disabled"
    return " ".join(filter(None, [user.email, "operator" if user.operator else "",
                                  f"({roles})" if roles else "", state]))


@cmp.command("update-user", help="Change a console user: operator or not, disable or enable, "
                                 "new password (read from standard input with "
                                 "--password-stdin), or their role in a workspace. Disabling "
                                 "ends their sessions and revokes their API tokens.")
@click.option("--email", required=True)
@click.option("--operator/--no-operator", "operator", default=None)
@click.option("--disable/--enable", "disable", default=None)
@click.option("--password-stdin", is_flag=True, help="Read a new password from standard input.")
@click.option("--role", type=click.Choice(workspaces.ROLES + ["none"]),
              help="Their role in --workspace; none takes them out of it.")
@click.option("--workspace", "workspace_name", help="The workspace of --role, by name.")
@reports_service_errors
def update_user_command(email, operator, disable, password_stdin, role, workspace_name):
    user = users.find_user(email)
    if user is None:
        raise click.ClickException(f"no user {email!r}")
    changes = {} if operator is None else {"operator": operator}
    if disable is not None:
        changes["active"] = not disable
    if password_stdin:
        changes["password"] = sys.stdin.readline().rstrip("\n")
    if not changes and not role:
        raise click.UsageError("nothing to change: give --operator/--no-operator, "
                               "--disable/--enable, --password-stdin or --role")
    if changes:
        users.update_user(user, changes, "cli")
    if role:
        set_role(user, role, workspace_name)
    click.echo(describe_user(user))


def set_role(user, role: str, workspace_name: str | None) -> None:
    """Give the user ``role`` in the workspace (added if not a member), or take them out."""
    workspace = workspaces.target(None, workspace_id(workspace_name), ())
    member = db.session.get(Membership, (workspace.id, user.id))
    if role == "none":
        if member is not None:
            members.remove_member(member, "cli")
    elif member is None:
        members.add_member(workspace, {"email": user.email, "role": role}, "cli")
    else:
        members.change_member(member, {"role": role}, "cli")
    db.session.refresh(user)


@cmp.command("gvl-fetch", help="Fetch IAB Europe's Global Vendor List (TCF) and its "
                               "translations, and store it if it is a new version; for a "
                               "daily scheduler. Prints the stored version on the last line.")
@click.option("--url", help="vendor-list.json's address (default: CMP_TCF_GVL_URL); the "
                            "translations are read from purposes-<lang>.json beside it.")
@click.option("--dir", "directory", type=click.Path(exists=True, file_okay=False),
              help="Read vendor-list.json and purposes-<lang>.json from this folder instead.")
@reports_service_errors
def gvl_fetch_command(url, directory):
    if url and directory:
        raise click.UsageError("give --url or --dir, not both")
    if directory:
        document, translations = gvl.load_gvl_dir(directory, click.echo)
    else:
        document, translations = gvl.fetch_gvl(url or current_app.config["CMP_TCF_GVL_URL"],
                                               click.echo)
    row, new = gvl.store_gvl(document, translations)
    if new:
        for site, version in tcf.sites_on_older_gvl(row.version):
            click.echo(f"site {site.name!r} ({site.key}) is published with GVL version "
                       f"{version}; it takes version {row.version} when next published")
    languages = ", ".join(sorted(row.translations)) or "none"
    click.echo(f"translations: {languages}")
    click.echo(f"GVL version {row.version} {'stored' if new else 'already stored'}")


@cmp.command("demo", help="Create or reuse the demo site and publish its configuration; "
                          "prints the demo site's key on the last line.")
@click.option("--port", type=int, default=5000, show_default=True,
              help="Port the demo is served on (its origins are allowed).")
@click.option("--tcf", is_flag=True,
              help="The IAB TCF demo publisher instead: a small GVL written locally (when none "
                   "is stored), a few of its partners.")
@reports_service_errors
def demo_command(port, tcf):
    if tcf:
        demo = ensure_tcf_demo(default_origins(port), current_app.instance_path)
        if not current_app.config.get("CMP_TCF_CMP_ID"):
            click.echo(f"CMP id:     {PLACEHOLDER_CMP_ID}, a placeholder: register your CMP with "
                       "IAB Europe and set CMP_TCF_CMP_ID")
    else:
        demo = ensure_demo(default_origins(port), current_app.instance_path)
    click.echo(f"demo page:  {demo_url(f'http://127.0.0.1:{port}', tcf)}")
    click.echo(f"console:    http://127.0.0.1:{port}/console/")
    click.echo(f"API docs:   http://127.0.0.1:{port}/api/docs")
    click.echo(f"version:    {demo.version_number} published")
    if demo.admin_password:
        click.echo(f"admin:      {demo.admin_email} / {demo.admin_password}")
    else:
        click.echo(f"admin:      {demo.admin_email} (password set elsewhere)")
    click.echo(demo.site.key)


@cmp.command("seal", help="Seal every record not yet sealed (signed Merkle batches). "
                          "Idempotent; safe while consents are being recorded.")
@click.option("--batch-size", type=click.IntRange(1, 1_000_000), default=10_000, show_default=True)
def seal_command(batch_size):
    seals = sealing.seal_now(batch_size)
    for seal in seals:
        click.echo(f"seal {seal.number}: {seal.record_count} records, root {seal.root[:16]}…")
    total = sum(s.record_count for s in seals)
    click.echo(f"sealed {total} records in {len(seals)} seal(s) with key {sealing.signing_key().key_id}")


@cmp.command("purge", help="Remove records past consent end + retention, leaving tombstones.")
@click.option("--dry-run", is_flag=True, help="Only report what would be removed.")
def purge_command(dry_run):
    def progress(scanned: int, total: int) -> None:
        click.echo(f"scanned {scanned}/{total} records", err=True)

    total = ledger.count(db.session.connection())
    report = retention.purge(dry_run=dry_run, progress=progress)
    verb = "would remove" if dry_run else "removed"
    for cause, count in sorted(report.by_cause().items()):
        click.echo(f"{verb} {count} ({cause})")
    click.echo(f"{verb} {report.removed} of {total} records")
    if not dry_run:
        old_requests = subjects.purge_request_log()
        click.echo(f"removed {old_requests} data-subject request log entries older than 24 months")
        click.echo(f"forgot {sync.purge_expired()} stale-receipt marks past their receipts' expiry")


@cmp.command("export", help="Write a site's proof bundle (zip) for records issued in "
                            "[--from, --to); check it with python -m consent_logs verify.")
@click.option("--site", "site_key", required=True)
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), required=True)
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), required=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), required=True)
@reports_service_errors
def export_command(site_key, start, end, out):
    def progress(stage: str, done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            click.echo(f"{stage}: {done}/{total}", err=True)

    try:
        with open(out, "wb") as handle:
            manifest = proof.export(site_key, start.replace(tzinfo=timezone.utc),
                                         end.replace(tzinfo=timezone.utc), handle, progress)
    except ServiceError:
        os.unlink(out)  # no half-written bundle left behind
        raise
    counts = manifest["counts"]
    click.echo(f"{counts['records']} records, {counts['tombstones']} tombstones, "
               f"{counts['shares']} of {counts['seals']} seals, {counts['configs']} "
               f"configuration versions")
    click.echo(f"wrote {out}; verify with: python -m consent_logs verify {out}")


@cmp.command("scan", help="Scan pages in headless Chromium with no choice made, after Reject "
                          "all, after Accept all and after a withdrawal; report, vendor by "
                          "vendor, what breaks consent. Progress goes to stderr.")
@click.argument("urls", nargs=-1, required=True)
@click.option("--depth", type=click.IntRange(0, 10), default=1, show_default=True,
              help="Follow same-site links this many clicks deep.")
@click.option("--max-pages", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--site", "site_key", help="Compare with this site's newest published "
                                         "configuration and keep the report as its latest.")
@click.option("--wait", "settle_ms", type=click.IntRange(0, 60_000), default=1500,
              show_default=True, help="Milliseconds to wait after each page load for late tags.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write the report as JSON to this file.")
@reports_service_errors
def scan_command(urls, depth, max_pages, site_key, settle_ms, json_file):
    options = ScanOptions(depth=depth, max_pages=max_pages, settle_ms=settle_ms)

    def progress(message: str) -> None:
        click.echo(message, err=True)

    if site_key:
        report = jobs.scan_site(site_key, list(urls), options, "cli", progress)
    else:
        report = jobs.run_scan(list(urls), options, progress=progress)
    click.echo(render_text(report), nl=False)
    if json_file:
        with open(json_file, "w", encoding="utf-8") as handle:
            json.dump(report, handle, indent=1, ensure_ascii=False)
        click.echo(f"wrote {json_file}", err=True)
