"""Browser tests: a real server started the way the README starts it, and Debian's
Chromium driven by Playwright (Playwright cannot download its own browsers here)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.pg import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


class RunningServer:
    def __init__(self, process: subprocess.Popen, port: int, output: list[str]):
        self.process, self.port, self.output = process, port, output
        self.url = f"http://127.0.0.1:{port}"

    def line(self, prefix: str) -> str:
        return next(l for l in self.output if l.startswith(prefix))


@pytest.fixture(scope="session")
def make_run(tmp_path_factory):
    """`make run` exactly as a newcomer types it, on a free port with its own instance
    folder; stopped (whole process group) at the end of the session."""
    instance = tmp_path_factory.mktemp("make-run-instance")
    port = free_port()
    env = {**os.environ, "PORT": str(port), "CMP_INSTANCE_PATH": str(instance)}
    env.pop("CMP_DATABASE_URL", None)
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    output: list[str] = []
    drain = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    deadline = time.monotonic() + 180
    try:
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            if re.search(r"Listening at: http://127\.0\.0\.1:\d+", line):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("make run did not start in 180 s")
        else:
            raise RuntimeError("make run stopped:\n" + "\n".join(output))
        # keep reading, so the server never blocks on a full pipe (its access log)
        drain.start()
        yield RunningServer(process, port, output)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        if drain.is_alive():
            drain.join(timeout=10)
        process.stdout.close()
