"""Where a scan started from the console may connect: a forward proxy in front of its
Chromium that refuses this server's own network.

A marketer names the pages to scan, and the scanner's browser fetches them from the
server's network: without a guard it would load the server's own endpoints, cloud metadata
(169.254.169.254), databases on private addresses, and report what it found. Every
connection the browser makes (each navigation, each redirect hop, each sub-request,
WebSockets) goes through this proxy, which resolves the host itself, refuses when any of
its addresses is loopback, private, link-local, multicast, reserved or otherwise not
global (IPv4, IPv6 and IPv4-mapped alike; Chromium has already turned odd notations such
as 2130706433 or 0x7f.1 into dotted addresses), and then connects to the address it
checked, so a DNS answer that changes between check and connection changes nothing.
The operator may allow networks (CMP_SCAN_ALLOW_NETWORKS, for local test sites); the
operator's own ``cmp scan`` runs without the guard.
"""
from __future__ import annotations

import ipaddress
import select
import socket
import socketserver
import threading
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HEAD_LIMIT = 64 * 1024
CONNECT_TIMEOUT = 10


class Refused(Exception):
    """A destination the scan may not reach, in words for the report."""


class Unreachable(Exception):
    """A destination that does not resolve: an error page, nothing to report."""


def forbidden(address: str, allowed: list[Network]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in allowed):
        return False
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def checked_address(host: str, port: int, allowed: list[Network]) -> tuple:
    """The socket address to connect to, after checking every address the host has."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise Unreachable(f"{host}: cannot be resolved ({error.strerror})") from None
    bad = sorted({info[4][0] for info in found if forbidden(info[4][0], allowed)})
    if bad:
        raise Refused(f"{host}: resolves to {', '.join(bad)}, a loopback, private or "
                      "reserved address")
    return found[0][4]


class Guard:
    """The proxy for one scan: its URL, and what it refused."""

    def __init__(self, allowed: list[Network]):
        self.allowed = allowed
        self.refused: list[str] = []
        self._lock = threading.Lock()
        guard = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                guard.serve(self.request)

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, args=(0.1,), daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def refuse(self, reason: str) -> None:
        with self._lock:
            if reason not in self.refused:
                self.refused.append(reason)

    # --- one browser connection ------------------------------------------------------------

    def serve(self, client: socket.socket) -> None:
        head, rest = read_head(client)
        if head is None:
            return
        method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
        try:
            if method == "CONNECT":
                host, _, port = target.rpartition(":")
                upstream = self.connect(host.strip("[]"), int(port))
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                parts = urlsplit(target)
                if parts.scheme != "http" or not parts.hostname:
                    raise Refused(f"{target[:100]}: not an http URL")
                upstream = self.connect(parts.hostname, parts.port or 80)
                upstream.sendall(origin_form(head, parts) + rest)
        except Refused as error:
            self.refuse(str(error))
            answer(client, b"403 Forbidden", f"Refused by the scanner: {error}")
            return
        except (Unreachable, ValueError, OSError) as error:
            answer(client, b"502 Bad Gateway", f"The scanner could not connect: {error}")
            return
        with upstream:
            relay(client, upstream)

    def connect(self, host: str, port: int) -> socket.socket:
        address = checked_address(host, port, self.allowed)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        upstream = socket.socket(family, socket.SOCK_STREAM)
        upstream.settimeout(CONNECT_TIMEOUT)
        upstream.connect(address)
        upstream.settimeout(None)
        return upstream


def answer(client: socket.socket, status: bytes, text: str) -> None:
    client.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
                   b"Connection: close\r\n\r\n" + text.encode("utf-8", "replace"))


def read_head(client: socket.socket) -> tuple[bytes | None, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(8192)
        if not chunk or len(data) > HEAD_LIMIT:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def origin_form(head: bytes, parts) -> bytes:
    """A proxy request as the origin server expects it, on a connection of its own."""
    lines = head.decode("latin-1").split("\r\n")
    method, _, version = lines[0].split(" ")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kept = [line for line in lines[1:] if line.split(":", 1)[0].strip().lower()
            not in ("connection", "proxy-connection", "keep-alive", "proxy-authorization")]
    return "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""]
                       ).encode("latin-1")


def relay(one: socket.socket, other: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [one, other]
    while True:
        readable, _, broken = select.select(sockets, [], sockets, 60)
        if broken or not readable:
            return
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (other if source is one else one).sendall(data)


@contextmanager
def guarded(allowed: list[Network]) -> Iterator[Guard]:
    guard = Guard(allowed)
    guard.start()
    try:
        yield guard
    finally:
        guard.stop()
