"""A site's banner theme: the values each property takes, and the colour pairs visitors
must be able to read (WCAG 2.1 AA: 4.5:1 for text, 3:1 for the focus ring)."""
from __future__ import annotations

import re
from typing import Any

COLOUR = r"^#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?$"
THEME = {  # CSS custom property (without --cmp-) -> what a value must look like
    "accent": COLOUR,
    "bg": COLOUR,
    "fg": COLOUR,
    "focus": COLOUR,
    "link": COLOUR,
    "radius": r"^\d{1,2}(?:px|rem|em)$",
    "font": r"^[A-Za-z0-9 ,'\"-]{1,100}$",
    "layout": r"^(?:box|box-left|box-right|bar-bottom|bar-top|modal)$",
    "scheme": r"^(?:light|dark|auto)$",
    "dark-bg": COLOUR,
    "dark-fg": COLOUR,
    "dark-accent": COLOUR,
    "dark-link": COLOUR,
    "dark-focus": COLOUR,
}
LAYOUTS = {  # the first layer's place on the page (the settings layer is a centred dialog
    # in the bar and modal layouts, where the first layer has it in the box ones)
    "box": "a box at the bottom centre", "box-left": "a box in the bottom left corner",
    "box-right": "a box in the bottom right corner", "bar-bottom": "a bar along the bottom",
    "bar-top": "a bar along the top", "modal": "a dialog in the middle of the page",
}
DEFAULT_LAYOUT = "box"  # the tag's own styles; the others are in its theme module
SCHEMES = {"light": "always light", "dark": "always dark",
           "auto": "dark when the visitor's system is set to dark"}
DEFAULT_SCHEME = "light"
VALID = {  # what each property takes, in words
    "accent": "a colour like #1d4ed8", "bg": "a colour like #ffffff", "fg": "a colour like #1f2328",
    "focus": "a colour like #1d4ed8", "link": "a colour like #0b57d0",
    "radius": "a size like 10px, 1rem or 0.5em (up to two digits)",
    "font": "font names separated by commas, like Inter, sans-serif",
    "layout": "one of " + ", ".join(LAYOUTS), "scheme": "one of " + ", ".join(SCHEMES),
    "dark-accent": "a colour like #1f6feb", "dark-bg": "a colour like #161b22",
    "dark-fg": "a colour like #e6edf3", "dark-focus": "a colour like #58a6ff",
    "dark-link": "a colour like #58a6ff",
}
DEFAULTS = {"accent": "#1d4ed8", "bg": "#ffffff", "fg": "#1f2328", "focus": "#1d4ed8",
            "link": "#0b57d0", "dark-accent": "#1f6feb", "dark-bg": "#161b22",
            "dark-fg": "#e6edf3", "dark-focus": "#58a6ff",
            "dark-link": "#58a6ff"}  # the banner's own (static/banner/src/style.css)
BUTTON_TEXT = "#ffffff"  # the text on accent-coloured buttons
# (property, drawn on, least contrast, what a visitor would fail to read)
READABLE = [
    ("fg", "bg", 4.5, "the banner's text on its background"),
    ("link", "bg", 4.5, "links on the background"),
    ("accent", BUTTON_TEXT, 4.5, "the white button text on the accent colour"),
    ("focus", "bg", 3.0, "the keyboard focus ring on the background"),
    ("dark-fg", "dark-bg", 4.5, "the dark banner's text on its background"),
    ("dark-link", "dark-bg", 4.5, "links on the dark background"),
    ("dark-accent", BUTTON_TEXT, 4.5, "the white button text on the dark accent colour"),
    ("dark-focus", "dark-bg", 3.0, "the keyboard focus ring on the dark background"),
]


def luminance(colour: str) -> float:
    """WCAG's relative luminance of a #rgb or #rrggbb colour."""
    digits = colour[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    channels = []
    for i in (0, 2, 4):
        c = int(digits[i:i + 2], 16) / 255
        channels.append(c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4)
    red, green, blue = channels
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast(one: str, other: str) -> float:
    """WCAG's contrast ratio of two colours, 1 to 21."""
    lighter, darker = sorted((luminance(one), luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def check_theme(theme: Any) -> dict[str, list[str]]:
    """Errors by ``theme.<property>``: unknown properties, malformed values, and colour
    pairs (with the banner's defaults for what the theme leaves out) below WCAG AA."""
    if not isinstance(theme, dict):
        return {"theme": ["must be an object: {property: value}"]}
    errors: dict[str, list[str]] = {}
    for key, value in theme.items():
        if key not in THEME:
            errors[f"theme.{key}"] = [f"unknown property; use one of {', '.join(THEME)}"]
        elif not isinstance(value, str) or not re.fullmatch(THEME[key], value):
            errors[f"theme.{key}"] = [f"{value!r} is not a valid {key}: use {VALID[key]}"]
    if errors:
        return errors
    colours = {**DEFAULTS, **{k: v for k, v in theme.items() if k in DEFAULTS}}
    for key, against, least, what in READABLE:
        if key not in theme and against not in theme:
            continue  # the banner's own pair
        ratio = contrast(colours[key], colours.get(against, against))
        if ratio < least:
            errors[f"theme.{key}"] = [f"{what} would have a contrast of {ratio:.1f}:1, and "
                                      f"needs at least {least:g}:1 to be readable (WCAG AA)"]
    return errors
