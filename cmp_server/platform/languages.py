"""Choosing the language a visitor is shown."""
from __future__ import annotations

import re

from cmp_server.sites.catalogue import CATALOGUE_LANGUAGES

# Browsers announce Norwegian as nb, no or nn; the catalogue writes Bokmål (nb).
ALIASES = {"no": "nb", "nn": "nb", "iw": "he"}  # iw: Hebrew's old code
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


# Chinese is written in two scripts: traditional where the tag names it or Taiwan, Hong
# Kong or Macao, simplified otherwise.
TRADITIONAL_CHINESE = {"hant", "tw", "hk", "mo"}


def primary(tag: str) -> str:
    """The language a tag asks for, as the banner and the catalogue name them."""
    parts = tag.strip().lower().split("-")
    if parts[0] == "zh":
        return "zh-Hant" if TRADITIONAL_CHINESE & set(parts[1:]) else "zh-Hans"
    return ALIASES.get(parts[0], parts[0])


def accept_language_tags(header: str | None) -> list[str]:
    """Accept-Language entries by descending quality (q=0 excluded)."""
    ranked = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0 and LANGUAGE_TAG.match(tag):
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(requested: str | None, accept_language: str | None, default: str | None,
              available: tuple[str, ...] = CATALOGUE_LANGUAGES) -> str | None:
    """The explicit request first, then the browser's preferences, then the site default."""
    candidates = ([requested] if requested else []) + accept_language_tags(accept_language)
    for tag in candidates:
        code = primary(tag)
        if code in available:
            return code
    return default


def localise(texts: dict[str, str], language: str, default: str) -> str:
    """One text from a {language: text} mapping, falling back to the default, then English."""
    return texts.get(language) or texts.get(default) or texts.get("en") or next(iter(texts.values()), "")
