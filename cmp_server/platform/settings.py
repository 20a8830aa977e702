"""Configuration, read from ``CMP_*`` environment variables.

This is the only module that reads ``os.environ``. Every setting has a small parser so a
wrong value fails at start-up with the variable's name, not later with a stack trace.

| variable                 | default                                  |
|--------------------------|------------------------------------------|
| CMP_INSTANCE_PATH        | Flask's instance folder (./instance)     |
| CMP_DATABASE_URL         | sqlite:///<instance>/cmp.sqlite3         |
| CMP_SECRET_KEYS          | generated once into <instance>/secret_keys |
| CMP_TRUSTED_PROXY_HOPS   | 0 (forwarded headers are ignored)        |
| CMP_MAX_CONTENT_LENGTH   | 65536 bytes                              |
| CMP_LOG_LEVEL            | INFO                                     |
| CMP_SECURE_COOKIES       | 1 (console cookies only over https)      |
| CMP_CACHE_SECONDS        | 5 (how soon a publication reaches every worker) |
| CMP_VENDORS_DIR          | the repository's vendors/                |
| CMP_GEOIP_DB             | GeoLite2 City file of maxminddb-geolite2 |
| CMP_LEDGER_KEY_FILE      | <instance>/ledger_signing_key.pem (made once) |
| CMP_RATE_LIMIT_PER_MINUTE | 120 public API POSTs per client address (0: off) |
| CMP_RATE_LIMIT_STORAGE   | file (per host); database: counted in the database, shared by app servers |
| CMP_HSTS_SECONDS         | 0 (no Strict-Transport-Security; behind TLS: 31536000) |
| CMP_SESSION_IDLE_MINUTES | 30 (a console session ends after this long unused; 8 hours at most) |
| CMP_SCAN_MAX_RUNNING     | 2 (console scans running at once on the server, all workers and hosts together) |
| CMP_SCAN_ALLOW_NETWORKS  | none (console scans never reach loopback, private or reserved addresses; e.g. 127.0.0.0/8,::1/128 for local test sites) |
| CMP_TCF_CMP_ID           | unset (the CMP id IAB Europe gave the operator; TCF sites cannot publish without it) |
| CMP_TCF_CMP_VERSION      | 1 (the CMP version the TC strings carry) |
| CMP_TCF_GVL_URL          | https://vendor-list.consensu.org/v3/vendor-list.json (purposes-<lang>.json beside it) |
"""
from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from consent_logs.keys import create_secret_file


# IAB Europe's Global Vendor List, version 3; its translations are purposes-<lang>.json beside it
DEFAULT_GVL_URL = "https://vendor-list.consensu.org/v3/vendor-list.json"


class ConfigError(ValueError):
    """A setting has a value the application cannot run with."""


def parse_int(name: str, raw: str | None, default: int, minimum: int = 0) -> int:
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def parse_optional_int(name: str, raw: str | None, minimum: int = 0) -> int | None:
    """An integer, or None when unset."""
    if raw is None or raw.strip() == "":
        return None
    return parse_int(name, raw, 0, minimum)


def parse_http_url(name: str, raw: str | None, default: str) -> str:
    """An http(s) address with a host."""
    value = (raw or "").strip() or default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{name} must be an http:// or https:// address, got {raw!r}")
    return value


def parse_bool(name: str, raw: str | None, default: bool) -> bool:
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0 (true/false), got {raw!r}")


def parse_choice(name: str, raw: str | None, choices: tuple[str, ...]) -> str:
    """One of ``choices``; the first when unset."""
    value = (raw or choices[0]).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return value


def parse_networks(name: str, raw: str | None) -> list:
    try:
        return [ipaddress.ip_network(item, strict=False) for item in parse_list(raw)]
    except ValueError as error:
        raise ConfigError(f"{name}: {error}") from None


def parse_list(raw: str | None) -> list[str]:
    """Comma-separated values, blanks dropped."""
    if not raw:
        return []
    return [item.strip() for item in raw.split(",") if item.strip()]


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the operator used."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_secret_keys(raw: str | None, instance_path: str) -> list[str]:
    """Signing keys: the first signs, all verify, so keys rotate without logging anyone out.

    From CMP_SECRET_KEYS when set; otherwise from ``<instance>/secret_keys`` (one key per
    line), which is generated with a random key on first start so the demo needs no setup.
    """
    keys = parse_list(raw)
    if keys:
        return keys
    path = Path(instance_path) / "secret_keys"
    try:
        text = path.read_text()
    except FileNotFoundError:  # each worker of a first start gets here: one key for all
        text = create_secret_file(path, (secrets.token_urlsafe(48) + "\n").encode()).decode()
    keys = [line.strip() for line in text.splitlines() if line.strip()]
    if not keys:
        raise ConfigError(f"{path} holds no key; put one key per line or set CMP_SECRET_KEYS")
    return keys


def instance_path(environ: dict[str, str] | None = None) -> str | None:
    """Where runtime data (SQLite file, generated secrets) lives; None: Flask's default."""
    env = os.environ if environ is None else environ
    return env.get("CMP_INSTANCE_PATH") or None


def from_environment(instance_path: str, environ: dict[str, str] | None = None) -> dict:
    """The Flask config mapping for this process."""
    env = os.environ if environ is None else environ
    database_url = env.get("CMP_DATABASE_URL") or (
        "sqlite:///" + str(Path(instance_path) / "cmp.sqlite3")
    )
    keys = load_secret_keys(env.get("CMP_SECRET_KEYS"), instance_path)
    return {
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        "SECRET_KEY": keys[0],
        "CMP_SECRET_KEYS": keys,
        "CMP_TRUSTED_PROXY_HOPS": parse_int(
            "CMP_TRUSTED_PROXY_HOPS", env.get("CMP_TRUSTED_PROXY_HOPS"), 0
        ),
        "MAX_CONTENT_LENGTH": parse_int(
            "CMP_MAX_CONTENT_LENGTH", env.get("CMP_MAX_CONTENT_LENGTH"), 64 * 1024, minimum=1024
        ),
        "CMP_LOG_LEVEL": env.get("CMP_LOG_LEVEL", "INFO").upper(),
        "SESSION_COOKIE_SECURE": parse_bool(
            "CMP_SECURE_COOKIES", env.get("CMP_SECURE_COOKIES"), True),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_NAME": "cmp_console",
        "PERMANENT_SESSION_LIFETIME": 8 * 3600,
        "CMP_CACHE_SECONDS": parse_int("CMP_CACHE_SECONDS", env.get("CMP_CACHE_SECONDS"), 5),
        "CMP_VENDORS_DIR": env.get("CMP_VENDORS_DIR") or str(default_vendors_dir()),
        "CMP_GEOIP_DB": env.get("CMP_GEOIP_DB") or None,
        "CMP_LEDGER_KEY_FILE": env.get("CMP_LEDGER_KEY_FILE")
        or str(Path(instance_path) / "ledger_signing_key.pem"),
        "CMP_RATE_LIMIT_PER_MINUTE": parse_int(
            "CMP_RATE_LIMIT_PER_MINUTE", env.get("CMP_RATE_LIMIT_PER_MINUTE"), 120),
        "CMP_RATE_LIMIT_STORAGE": parse_choice(
            "CMP_RATE_LIMIT_STORAGE", env.get("CMP_RATE_LIMIT_STORAGE"), ("file", "database")),
        "CMP_HSTS_SECONDS": parse_int("CMP_HSTS_SECONDS", env.get("CMP_HSTS_SECONDS"), 0),
        "CMP_SCAN_ALLOW_NETWORKS": parse_networks(
            "CMP_SCAN_ALLOW_NETWORKS", env.get("CMP_SCAN_ALLOW_NETWORKS")),
        "CMP_SCAN_MAX_RUNNING": parse_int(
            "CMP_SCAN_MAX_RUNNING", env.get("CMP_SCAN_MAX_RUNNING"), 2, minimum=1),
        "CMP_SESSION_IDLE_MINUTES": parse_int(
            "CMP_SESSION_IDLE_MINUTES", env.get("CMP_SESSION_IDLE_MINUTES"), 30, minimum=1),
        # never a default: the platform does not pretend to be a registered CMP
        "CMP_TCF_CMP_ID": parse_optional_int(
            "CMP_TCF_CMP_ID", env.get("CMP_TCF_CMP_ID"), minimum=2),
        "CMP_TCF_CMP_VERSION": parse_int(
            "CMP_TCF_CMP_VERSION", env.get("CMP_TCF_CMP_VERSION"), 1, minimum=1),
        "CMP_TCF_GVL_URL": parse_http_url(
            "CMP_TCF_GVL_URL", env.get("CMP_TCF_GVL_URL"), DEFAULT_GVL_URL),
    }


def default_vendors_dir() -> Path:
    """The catalogue shipped in the repository, beside the package."""
    return Path(__file__).resolve().parents[2] / "vendors"
