"""The console's proof export runs as a background job: the officer gets a page that shows
its progress and then the download, any worker can show it (its state is a row and a file
in the instance folder), only officers of the site's workspace see or download it, and
finished exports are cleaned up after a while."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from cmp_server.accounts import workspaces
from cmp_server.accounts.users import create_user
from cmp_server.consent import export_jobs
from cmp_server.consent.receipts import record_consent
from cmp_server.models import AuditEvent, ProofExport, utcnow
from cmp_server.platform.extensions import db
from consent_logs.bundle import verify_bundle
from tests.conftest import console_login
from tests.support.exports import console_export, wait_for_export

PASSWORD = "a long enough password"


@pytest.fixture
def people(app, shop):
    """The shop's compliance officer and marketer, and a rival workspace's officer."""
    app.config["SESSION_COOKIE_SECURE"] = False  # the test client speaks plain http
    site, version = shop
    for action in ("accept_all", "reject_all", "accept_all"):
        record_consent({"site": site.key, "config_version": version.number, "action": action,
                        "language": "en"}, None, "https://shop.example")
    officer = create_user({"email": "officer@shop.example", "password": PASSWORD,
                           "role": "compliance"})
    marketer = create_user({"email": "marketer@shop.example", "password": PASSWORD,
                            "role": "marketer"})
    rival = workspaces.create_workspace({"name": "Rival"}, "test")
    return site, {
        "officer": officer,
        "marketer": marketer,
        "rival": create_user({"email": "officer@rival.example", "password": PASSWORD,
                              "role": "compliance", "workspace": rival.id}),
    }


def logged_in(app, user):
    client = app.test_client()
    assert console_login(client, user.email, PASSWORD).status_code == 302
    with client.session_transaction() as session:
        return client, session["csrf"]


def test_the_export_runs_in_the_background_and_downloads_a_bundle_that_verifies(
        app, people, tmp_path):
    site, users = people
    client, csrf = logged_in(app, users["officer"])
    job_url, page, download = console_export(client, csrf, site.key, "2000-01-01", "2099-12-31")
    assert "3 records" in page and "python -m consent_logs render" in page
    assert 'http-equiv="refresh"' not in page  # finished: no more reloading
    assert download.status_code == 200 and download.mimetype == "application/zip"
    assert f"consent-proof-{site.key}-20000101-20991231.zip" in download.headers[
        "Content-Disposition"]
    bundle = tmp_path / "proof.zip"
    bundle.write_bytes(download.data)
    download.close()
    summary = verify_bundle(str(bundle))
    assert (summary.site, summary.records) == (site.key, 3)
    # the bundle lives in the instance folder, where every worker finds it
    job = db.session.get(ProofExport, job_url.rsplit("/", 1)[1])
    assert export_jobs.bundle_path(job).read_bytes() == bundle.read_bytes()
    listing = client.get("/console/compliance/export").get_data(as_text=True)
    assert job_url in listing
    audited = db.session.query(AuditEvent).filter_by(action="proof.export").one()
    assert (audited.actor, audited.entity_id) == ("officer@shop.example", site.key)


def test_only_officers_of_the_sites_workspace_see_or_download_an_export(app, people):
    site, users = people
    client, csrf = logged_in(app, users["officer"])
    job_url, _, download = console_export(client, csrf, site.key, "2000-01-01", "2099-12-31")
    download.close()
    rival, _ = logged_in(app, users["rival"])
    assert rival.get(job_url).status_code == 404
    assert rival.get(job_url + "/download").status_code == 404
    assert job_url not in rival.get("/console/compliance/export").get_data(as_text=True)
    marketer, _ = logged_in(app, users["marketer"])
    assert marketer.get(job_url).status_code == 403
    assert marketer.get(job_url + "/download").status_code == 403
    # a rival cannot start one for the shop's site either
    rival_csrf = logged_in(app, users["rival"])[1]
    asked = rival.post("/console/compliance/export", data={
        "site": site.key, "from": "2000-01-01", "to": "2099-12-31", "csrf_token": rival_csrf})
    assert asked.status_code in (400, 404)
    assert db.session.query(ProofExport).count() == 1


def test_a_running_export_shows_its_progress_on_a_page_that_reloads_itself(app, people):
    site, users = people
    job = ProofExport(id="a" * 32, site_id=site.id, started_by="officer@shop.example",
                      period_from=utcnow() - timedelta(days=30), period_until=utcnow(),
                      status="running", stage="seals", done=3, total=10)
    db.session.add(job)
    db.session.commit()
    client, _ = logged_in(app, users["officer"])
    page = client.get(f"/console/compliance/exports/{job.id}").get_data(as_text=True)
    assert '<meta http-equiv="refresh" content="2">' in page
    assert "writing the bundle, 3 of 10 seals" in page
    assert not re.search(r"<script(?![^>]*\ssrc=)", page)  # the console's CSP: no inline script
    assert client.get(f"/console/compliance/exports/{job.id}/download").status_code == 404


def test_bad_dates_are_refused_and_start_nothing(app, people):
    site, users = people
    client, csrf = logged_in(app, users["officer"])
    answer = client.post("/console/compliance/export", data={
        "site": site.key, "from": "2026-02-01", "to": "2026-01-01", "csrf_token": csrf})
    assert answer.status_code == 422
    assert "must be the same day as from, or later" in answer.get_data(as_text=True)
    assert db.session.query(ProofExport).count() == 0


def test_finished_exports_are_removed_after_a_while_and_dead_ones_are_shown_failed(app, people):
    site, users = people
    client, csrf = logged_in(app, users["officer"])
    job_url, _, download = console_export(client, csrf, site.key, "2000-01-01", "2099-12-31")
    download.close()
    job = db.session.get(ProofExport, job_url.rsplit("/", 1)[1])
    path = export_jobs.bundle_path(job)
    assert path.is_file()
    # a worker that died while writing one leaves it "running": later it shows as failed
    dead = ProofExport(id="d" * 32, site_id=site.id, started_by="officer@shop.example",
                       period_from=job.period_from, period_until=job.period_until,
                       status="running", stage="purge", started_at=utcnow() - timedelta(hours=3))
    db.session.add(dead)
    db.session.commit()
    page = wait_for_export(client, f"/console/compliance/exports/{dead.id}")
    assert "interrupted: the server stopped while writing it" in page
    job.finished_at = utcnow() - export_jobs.KEEP_FOR - timedelta(minutes=1)
    db.session.commit()
    assert client.get("/console/compliance/export").status_code == 200  # the page sweeps
    assert not path.exists()
    assert client.get(job_url).status_code == 404
    assert client.get(job_url + "/download").status_code == 404
