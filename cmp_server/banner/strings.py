"""The banner's own UI strings, ``static/banner/src/strings.json``: the one source of the
languages the banner speaks and of the texts a site may rewrite (the build reads the same
file)."""
from __future__ import annotations

import json
from pathlib import Path

from cmp_server.banner.assets import BANNER_DIR

STRINGS_FILE = BANNER_DIR / "src" / "strings.json"
STRINGS: dict[str, dict[str, str]] = json.loads(STRINGS_FILE.read_text(encoding="utf-8"))
BANNER_LANGUAGES = tuple(STRINGS)
TEXT_KEYS = tuple(STRINGS["en"])
RIGHT_TO_LEFT = frozenset({"ar", "he", "fa"})  # the banner is mirrored in these

# The TCF layers' own strings (static/banner/src/modules/tcf.js): a TCF site's banner
# speaks only the languages that have them (and the GVL's texts in that language).
TCF_STRINGS: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).parent / "tcf_strings.json").read_text(encoding="utf-8"))
assert all(set(texts) == set(TCF_STRINGS["en"]) and language in STRINGS
           for language, texts in TCF_STRINGS.items()), "every TCF language needs every TCF string"
