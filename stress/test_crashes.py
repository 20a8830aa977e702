"""Crashes: kill -9 of a server worker, of the whole server, and of PostgreSQL, while
consents are being recorded. After each, nothing acknowledged is missing, the ledger seals
and verifies, and the service answers again; a browser page kept open through the outage
of the whole server ran no gated tag."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.load import Result, recorded_ids, run_wrk
from stress.platform import Platform, wait_for
from tests.conftest import ENGINES
from tests.support.http import call

pytestmark = pytest.mark.stress
CONNECTIONS = 8
RATE = 150  # consents a second offered through each crash


def load_through(platform: Platform, fault, seconds: float, answers) -> Result:
    """wrk for ``3 * seconds``; ``fault`` strikes after the first third."""
    with ThreadPoolExecutor(1) as pool:
        load = pool.submit(run_wrk, platform.consents_url, 3 * seconds, CONNECTIONS,
                           method="POST", body=platform.consent_body(),
                           headers=platform.consent_headers, many_clients=True,
                           rate=RATE, record_dir=answers)
        time.sleep(seconds)
        fault()
        return load.result()


def recovered(platform: Platform) -> str:
    """A consent recorded after the fault: the service is back."""
    def attempt():
        answer = call("POST", platform.consents_url, platform.consent(),
                      headers={"X-Forwarded-For": "130.237.99.99", **platform.consent_headers})
        return answer.json["receipt"]["receipt_id"] if answer.status == 201 else None
    return wait_for(attempt, timeout=60, step=0.5)


def check_ledger(platform: Platform, answers, figures, name: str, result: Result) -> None:
    after = recovered(platform)
    acknowledged = set(recorded_ids(answers)) | {after}
    stored = platform.ledger_ids()
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged consents are missing after {name}"
    unacknowledged = len(stored - acknowledged)
    # committed, but the answer died with the process or was in flight when wrk stopped
    assert unacknowledged <= 2 * CONNECTIONS
    assert platform.seal_and_verify() == len(stored)
    figures.add("crashes", name,
                f"{len(acknowledged):,} acknowledged, all in the ledger; {unacknowledged} "
                f"committed but unanswered; while down: {result.errors - result.socket_errors} "
                f"error answers, {result.socket_errors} refused or broken connections; "
                f"sealed and verified")


@pytest.mark.parametrize("engine", ENGINES)
def test_kill_9_of_a_worker(engine, profile, figures, tmp_path, answers):
    with Platform(engine, tmp_path) as platform:
        before = set(platform.workers())
        result = load_through(platform, platform.kill_worker, profile.crash_seconds, answers)
        assert set(platform.workers()) != before  # the master replaced the dead worker
        check_ledger(platform, answers, figures, f"kill -9 of a gunicorn worker, {engine}",
                     result)


@pytest.mark.browser
@pytest.mark.parametrize("engine", ENGINES)
def test_kill_9_of_the_whole_server_with_a_page_open(engine, profile, figures, tmp_path,
                                                    answers, page):
    with Platform(engine, tmp_path) as platform:
        requested = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{platform.url}/demo/")
        page.locator("#cmp-banner").wait_for()

        def crash_and_restart():
            platform.kill_server()
            time.sleep(profile.crash_seconds / 2)
            platform.start()

        result = load_through(platform, crash_and_restart, profile.crash_seconds, answers)
        check_ledger(platform, answers, figures, "kill -9 of the whole server (master and "
                     f"workers), {engine}", result)
        # the page lived through the outage: no gated tag ran, nothing was fetched for one
        assert page.locator("#tags-that-ran li").count() == 0
        assert not any("/demo/vendor/" in url or "/demo/tags/" in url for url in requested)
        # and the visitor can still choose once the server is back
        page.click("[data-cmp-action=accept-all]")
        page.wait_for_function("document.querySelectorAll('#tags-that-ran li').length > 0")
        wait_for(lambda: "cmp_pending" not in page.evaluate("Object.keys(localStorage)"))
    figures.add("crashes", f"browser page open through the outage, {engine}",
                "no gated tag ran; Accept all recorded after the restart")


@pytest.mark.postgres
def test_kill_9_of_postgresql(profile, figures, tmp_path, answers):
    with Platform("postgresql", tmp_path) as platform:
        outage = {}

        def crash_and_restart():
            platform.postgres.crash()
            time.sleep(profile.crash_seconds / 2)
            answer = call("POST", platform.consents_url, platform.consent(),
                          headers={"X-Forwarded-For": "130.237.98.98", **platform.consent_headers})
            outage.update(status=answer.status, body=answer.json)
            platform.postgres.boot()

        result = load_through(platform, crash_and_restart, profile.crash_seconds, answers)
        # while the database was down, a clear answer: nothing to retry blindly against
        assert outage["status"] == 503, outage
        assert "database" in outage["body"]["message"]
        check_ledger(platform, answers, figures, "kill -9 of PostgreSQL (postmaster and "
                     "backends), restarted", result)
