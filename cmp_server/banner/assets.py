"""The banner tag, as built by static/banner/build.mjs (its texts come with each banner
configuration: cmp_server.banner.document).

- /banner/cmp.js: the stable URL sites embed; revalidated by ETag after a short max-age,
  so a new build reaches every site within minutes.
- /banner/cmp.<hash>.js: the same bytes under their content hash, cacheable for ever.
- /banner/tcf-stub.js, /banner/gpp-stub.js: IAB's __tcfapi and __gpp stubs, for TCF and GPP
  sites to load before their ad scripts.
- /banner/m/<name>.<hash>.js: a module of the tag (static/banner/src/modules/), which the
  tag loads only where a page needs it, from the URL its configuration names
  (module_paths); cacheable for ever.

The bundle is built by `make setup` (npm ci and npm run build in static/banner) and is not
in git; when it is missing every URL here answers 500 saying how to build it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, request

from cmp_server.platform.cache import app_cache

log = logging.getLogger(__name__)

BANNER_DIR = Path(__file__).resolve().parents[2] / "static" / "banner"
STABLE_MAX_AGE = 300  # seconds before browsers and CDNs revalidate /banner/cmp.js
IMMUTABLE = "public, max-age=31536000, immutable"
MISSING = ("The banner bundle is not built ({path} is missing): run `make setup`, or "
           "`npm ci && npm run build` in static/banner.")
HASHED = re.compile(r"^[0-9a-f]{16}$")
MODULE_FILE = re.compile(r"^[a-z]+\.[0-9a-f]{16}\.js$")

bp = Blueprint("banner_assets", __name__, url_prefix="/banner")


@dataclass(frozen=True)
class Build:
    manifest: dict
    script: bytes


def dist_dir() -> Path:
    return Path(current_app.config.get("CMP_BANNER_DIST") or BANNER_DIR / "dist")


_builds: dict[tuple[Path, float], Build] = {}


def current_build() -> Build:
    """The built bundle, read once per build (a rebuild changes the manifest's mtime)."""
    manifest_path = dist_dir() / "manifest.json"
    try:
        key = (manifest_path, manifest_path.stat().st_mtime)
    except FileNotFoundError:
        log.error(MISSING.format(path=manifest_path))
        abort(500, description=MISSING.format(path=manifest_path))
    if key not in _builds:
        manifest = json.loads(manifest_path.read_text("utf-8"))
        script = (manifest_path.parent / "cmp.js").read_bytes()
        _builds.clear()
        _builds[key] = Build(manifest, script)
    return _builds[key]


@bp.record_once
def warn_when_missing(state) -> None:
    path = Path(state.app.config.get("CMP_BANNER_DIST") or BANNER_DIR / "dist") / "manifest.json"
    if not path.exists():
        log.warning(MISSING.format(path=path))


def asset(body: bytes, mimetype: str, etag: str, cache_control: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.set_etag(etag)
    response.headers["Cache-Control"] = cache_control
    response.headers["Access-Control-Allow-Origin"] = "*"  # public files; lets sites use SRI
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response.make_conditional(request)


@bp.get("/cmp.js")
def stable():
    build = current_build()
    return asset(build.script, "text/javascript", build.manifest["hash"],
                 f"public, max-age={STABLE_MAX_AGE}")


@bp.get("/<any(tcf, gpp):api>-stub.js")
def stub(api: str):
    """IAB's __tcfapi or __gpp stub and its locator frame, for a TCF or GPP site to load
    before its ad scripts (synchronously, first in <head>): they can queue calls before
    the banner is there."""
    path = dist_dir() / f"{api}-stub.js"
    if not path.is_file():
        abort(404, description=MISSING.format(path=path))
    body = path.read_bytes()
    return asset(body, "text/javascript", hashlib.sha256(body).hexdigest()[:16],
                 f"public, max-age={STABLE_MAX_AGE}")


@bp.get("/cmp.<digest>.js")
def hashed(digest: str):
    build = current_build()
    if digest == build.manifest["hash"]:
        body = build.script
    else:  # an earlier build still in dist/, else gone
        path = dist_dir() / f"cmp.{digest}.js"
        if not HASHED.match(digest) or not path.is_file():
            abort(404, description=f"No banner build {digest!r}; the current one is "
                                   f"{build.manifest['file']}.")
        body = path.read_bytes()
    return asset(body, "text/javascript", digest, IMMUTABLE)


@bp.get("/m/<file>")
def module(file: str):
    build = current_build()
    path = dist_dir() / "m" / file
    if not MODULE_FILE.match(file) or not path.is_file():
        current = ", ".join(m["file"] for m in build.manifest.get("modules", {}).values())
        abort(404, description=f"No banner module {file!r}; the current ones: {current}.")
    body = path.read_bytes()
    return asset(body, "text/javascript", file.split(".")[1], IMMUTABLE)


def module_paths() -> tuple[tuple[str, str], ...]:
    """Each module of the current build and its path, as the banner configuration names
    them (a tuple: part of the cache key of the rendered configuration); none while the
    bundle is not built (the tag cannot be loaded then either). Read again after
    CMP_CACHE_SECONDS: it is on the banner GET's path."""
    return app_cache("banner-modules").get("paths", _module_paths)


def _module_paths() -> tuple[tuple[str, str], ...]:
    if not (dist_dir() / "manifest.json").is_file():
        return ()
    modules = current_build().manifest.get("modules", {})
    return tuple((name, f"/banner/m/{m['file']}") for name, m in sorted(modules.items()))
