"""The console scanner's network guard: a forward proxy that never connects to loopback,
private, link-local, multicast or reserved addresses (unless the operator allows them),
checked after DNS resolution, for each request and each redirect hop."""
from __future__ import annotations

import ipaddress
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cmp_server.scanner.guard import forbidden, guarded

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
    "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1",
    "fc00::1", "fd12:3456::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "2001:db8::1",
])
def test_internal_addresses_are_forbidden(address):
    assert forbidden(address, [])


@pytest.mark.parametrize("address", ["8.8.8.8", "151.101.1.69", "2606:4700:4700::1111"])
def test_public_addresses_are_not(address):
    assert not forbidden(address, [])


def test_the_operator_may_allow_networks():
    assert not forbidden("127.0.0.1", LOOPBACK) and not forbidden("::1", LOOPBACK)
    assert forbidden("10.0.0.1", LOOPBACK)


class Site(BaseHTTPRequestHandler):
    """A page, and a redirect to wherever ?to= says."""

    hits: list[str] = []

    def do_GET(self):
        Site.hits.append(self.path)
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.end_headers()
            return
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"a page")

    def log_message(self, *_args):
        pass


@pytest.fixture
def site():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Site.hits = []
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fetch(proxy: str, url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy}))
    try:
        with opener.open(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_name_that_resolves_to_loopback_is_refused_unread(site):
    with guarded([]) as guard:
        status, body = fetch(guard.url, site + "/secret?api_key=x")
    assert status == 403 and b"Refused by the scanner" in body
    assert Site.hits == []  # never reached
    (reason,) = guard.refused
    assert reason.startswith("localhost: resolves to 127.0.0.1")  # (and ::1, where it does)


def test_allowed_networks_are_reached_and_a_redirect_hop_is_checked_again(site):
    with guarded(LOOPBACK) as guard:
        assert fetch(guard.url, site + "/page") == (200, b"a page")
        status, _ = fetch(guard.url, site + "/redirect?to=http://10.1.2.3/admin")
    assert status == 403
    assert Site.hits == ["/page", "/redirect?to=http://10.1.2.3/admin"]
    assert guard.refused == ["10.1.2.3: resolves to 10.1.2.3, a loopback, private or "
                             "reserved address"]
