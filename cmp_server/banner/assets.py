"""The banner tag and its UI strings, as built by static/banner/build.mjs.

- /banner/cmp.js: the stable URL sites embed; revalidated by ETag after a short max-age,
  so a new build reaches every site within minutes.
- /banner/cmp.<hash>.js: the same bytes under their content hash, cacheable for ever.
- /banner/i18n/<lang>.json: the banner's own UI strings in one language, fetched by the
  tag when the visitor's language is not English; immutable when asked for with the
  build's strings hash (?v=), which is what the tag does.

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

log = logging.getLogger(__name__)

BANNER_DIR = Path(__file__).resolve().parents[2] / "static" / "banner"
STABLE_MAX_AGE = 300  # seconds before browsers and CDNs revalidate /banner/cmp.js
IMMUTABLE = "public, max-age=31536000, immutable"
MISSING = ("The banner bundle is not built ({path} is missing): run `make setup`, or "
           "`npm ci && npm run build` in static/banner.")
LANGUAGE = re.compile(r"^[a-z]{2}$")
HASHED = re.compile(r"^[0-9a-f]{16}$")

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


@bp.get("/i18n/<lang>.json")
def strings(lang: str):
    build = current_build()
    if not LANGUAGE.match(lang) or lang not in build.manifest["languages"]:
        abort(404, description=f"No banner strings for {lang!r}; languages: "
                               f"{', '.join(build.manifest['languages'])}.")
    body = (dist_dir() / "i18n" / f"{lang}.json").read_bytes()
    current = request.args.get("v") == build.manifest["i18n"]
    return asset(body, "application/json", hashlib.sha256(body).hexdigest()[:16],
                 IMMUTABLE if current else f"public, max-age={STABLE_MAX_AGE}")
