"""What the console calls the banner's texts and theme properties, in plain words (the
draft's form, and the changes a publication makes)."""
from __future__ import annotations

from cmp_server.banner.strings import TEXT_KEYS
from cmp_server.sites.theme import THEME as THEME_PROPERTIES

TEXTS = {
    "title": "Heading", "intro": "Introduction", "reject": "Reject button",
    "accept": "Accept button", "customize": "Button to the settings",
    "policy": "Privacy policy link", "settings": "Heading of the settings",
    "always": "Label of purposes that are always on", "save": "Save button",
    "needs": "Note on vendors that need several purposes",
    "cookies": "Heading of a vendor's cookies", "retention": "Heading of its retention",
    "hosting": "Heading of its data location", "months": "The word for months",
    "days": "The word for days", "session": "Lifetime of session cookies",
    "persistent": "Lifetime of cookies kept until deleted",
    "cid": "Label of the visitor's consent ID", "mine": "Link to the visitor's own page",
    "gpc": "Notice to browsers that send Global Privacy Control",
    "ok": "Button that closes the notice",
    "back": "Button back to the first layer", "close": "Button that closes the settings",
    "embed": "What loading it means ({v}: the vendor)", "once": "Button that loads it once",
    "allow": "Button that always allows the vendor ({v}: the vendor)",
    "dns": "US visitors' opt-out link and button (Do not sell or share)",
    "dns_notice": "Notice to US visitors about the sale or sharing of their data",
}
THEME = {
    "bg": "Background", "fg": "Text", "accent": "Buttons and switches", "link": "Links",
    "focus": "Keyboard focus ring", "radius": "Corner radius", "font": "Font",
    "layout": "Layout", "scheme": "Light or dark",
    "dark-bg": "Background (dark)", "dark-fg": "Text (dark)",
    "dark-accent": "Buttons and switches (dark)", "dark-link": "Links (dark)",
    "dark-focus": "Keyboard focus ring (dark)",
}
assert set(TEXTS) == set(TEXT_KEYS) and set(THEME) == set(THEME_PROPERTIES)
