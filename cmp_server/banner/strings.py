"""The banner's own UI strings, ``static/banner/src/strings.json``: the one source of the
languages the banner speaks and of the texts a site may rewrite (the build reads the same
file)."""
from __future__ import annotations

import json

from cmp_server.banner.assets import BANNER_DIR

STRINGS_FILE = BANNER_DIR / "src" / "strings.json"
STRINGS: dict[str, dict[str, str]] = json.loads(STRINGS_FILE.read_text(encoding="utf-8"))
BANNER_LANGUAGES = tuple(STRINGS)
TEXT_KEYS = tuple(STRINGS["en"])
RIGHT_TO_LEFT = frozenset({"ar", "he", "fa"})  # the banner is mirrored in these
