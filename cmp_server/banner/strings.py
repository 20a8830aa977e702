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

# The TCF layers' own strings (static/banner/src/modules/tcf.js), in every banner language;
# a TCF site's banner speaks those the GVL's texts are translated into.
TCF_STRINGS: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).parent / "tcf_strings.json").read_text(encoding="utf-8"))
assert set(TCF_STRINGS) == set(STRINGS) and all(
    set(texts) == set(TCF_STRINGS["en"]) for texts in TCF_STRINGS.values()), \
    "every banner language needs every TCF string"
