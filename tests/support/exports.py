"""The console's proof export as a compliance officer's browser drives it: ask, watch the
job's page (it reloads itself) until it is finished, download."""
from __future__ import annotations

import time

DONE_WITHIN = 60  # seconds


def wait_for_export(client, job_url: str) -> str:
    """The job's page once the export has finished (done or failed)."""
    deadline = time.monotonic() + DONE_WITHIN
    while True:
        page = client.get(job_url)
        assert page.status_code == 200, page.status_code
        text = page.get_data(as_text=True)
        if 'data-status="running"' not in text:
            return text
        assert 'http-equiv="refresh"' in text  # the page refreshes itself meanwhile
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.05)


def console_export(client, csrf: str, site_key: str, first_day: str, last_day: str):
    """Ask for an export and wait for it; (job page URL, page text, download response)."""
    asked = client.post("/console/compliance/export", data={
        "site": site_key, "from": first_day, "to": last_day, "csrf_token": csrf})
    assert asked.status_code == 303, asked.get_data(as_text=True)
    job_url = asked.location
    page = wait_for_export(client, job_url)
    assert 'id="export-ready"' in page, page
    return job_url, page, client.get(job_url + "/download")
