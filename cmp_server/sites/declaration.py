"""The cookie declaration: per site and language, what the seed statement's "Cookies and
terms of use" section is, generated from the site's newest published configuration.

Two views of one rendering:

* ``GET /sites/<key>/cookies``: a complete HTML page;
* ``GET /sites/<key>/cookies.fragment.html``: the same markup as an embeddable fragment
  (no ``<html>``/``<head>``/``<script>``, no event handler attributes, no external
  resources, every class prefixed ``cmp-decl-``), with ``Access-Control-Allow-Origin: *``
  so a site can fetch it and insert it into its own privacy page.

Both are always current (the newest published version), answered with a strong ETag over
the body (304 on If-None-Match), ``Cache-Control: public, max-age=300`` and
``Vary: Accept-Language``. Everything taken from the configuration is escaped by Jinja's
autoescaping; links are emitted only for http(s) URLs.

Catalogue texts that exist only in English (cookie descriptions, transfer safeguards,
retention tier names) are shown in English, with a note saying so in other languages.
"""
from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import select
from werkzeug.exceptions import UnprocessableEntity

from cmp_server import configs, receipts
from cmp_server.cache import app_cache
from cmp_server.catalogue import CATALOGUE_LANGUAGES
from cmp_server.extensions import db
from cmp_server.languages import LANGUAGE_TAG, localise, negotiate
from cmp_server.models import ConfigVersion

bp = Blueprint("declaration", __name__)

SITE_KEY = re.compile(receipts.SITE_KEY)
MAX_AGE = 300
PAGE, FRAGMENT = "page", "fragment"

# The EU member states plus Iceland, Liechtenstein and Norway.
EEA = frozenset(
    "AT BE BG HR CY CZ DK EE FI FR DE GR IE IT LV LT LU MT NL PL PT RO SK SI ES SE IS LI NO"
    .split()
)

# The fixed wording, per catalogue language. "{controller}", "{date}", "{version}" and
# "{domain}" are filled in; units are (singular, plural).
LABELS: dict[str, dict[str, Any]] = {
    "en": {
        "title": "Cookie declaration",
        "intro": "{controller} uses the cookies and similar technologies (such as "
                 "localStorage) listed below, grouped by purpose. Strictly necessary ones "
                 "are always active; all others are used only if you consent, and you can "
                 "change your choice at any time.",
        "controller": "Data controller",
        "contact": "Contact",
        "policy": "Privacy policy",
        "policy_link": "Read our privacy policy",
        "updated": "Last updated {date} (version {version})",
        "always_active": "Always active: does not require consent",
        "needs_consent": "Used only with your consent",
        "no_vendors": "No services are used for this purpose.",
        "provider": "Provided by",
        "legal_basis": "Legal basis",
        "basis_consent": "Your consent (GDPR Art. 6(1)(a))",
        "basis_necessary": "Strictly necessary: exempt from consent under ePrivacy "
                           "Directive Art. 5(3)",
        "retention": "Data retention",
        "retention_none": "Not kept beyond the session",
        "hosting": "Data stored in",
        "own_servers": "this website's own servers",
        "transfers": "Transfers outside the EU/EEA",
        "yes": "Yes",
        "no": "No",
        "safeguards": "Safeguards",
        "also": "Also used for",
        "needs_also": "Used only if you also consent to",
        "vendor_policy": "Privacy policy",
        "cookies": "Cookies and storage",
        "col_name": "Name",
        "col_storage": "Stored in",
        "col_domain": "Domain",
        "col_lifetime": "Lifetime",
        "col_description": "Description",
        "no_cookies": "No cookies or storage keys declared.",
        "first_party": "this website (first party)",
        "third_party": "{domain} (third party)",
        "cookie": "Cookie",
        "session": "Session (until the browser closes)",
        "persistent": "Persistent (until cleared)",
        "glob_note": "An asterisk (*) in a name stands for any sequence of characters.",
        "english_note": "",
        "day": ("day", "days"),
        "month": ("month", "months"),
        "year": ("year", "years"),
        "date": "{day} {month} {year}",
        "months": ("January", "February", "March", "April", "May", "June", "July",
                   "August", "September", "October", "November", "December"),
    },
    "sv": {
        "title": "Cookieförklaring",
        "intro": "{controller} använder de cookies och liknande tekniker (till exempel "
                 "localStorage) som listas nedan, sorterade efter ändamål. Nödvändiga är "
                 "alltid aktiva; alla andra används bara om du samtycker, och du kan när "
                 "som helst ändra ditt val.",
        "controller": "Personuppgiftsansvarig",
        "contact": "Kontakt",
        "policy": "Integritetspolicy",
        "policy_link": "Läs vår integritetspolicy",
        "updated": "Senast uppdaterad {date} (version {version})",
        "always_active": "Alltid aktiva: kräver inget samtycke",
        "needs_consent": "Används bara med ditt samtycke",
        "no_vendors": "Inga tjänster används för detta ändamål.",
        "provider": "Tillhandahålls av",
        "legal_basis": "Rättslig grund",
        "basis_consent": "Ditt samtycke (GDPR art. 6.1 a)",
        "basis_necessary": "Nödvändig: undantagen från kravet på samtycke enligt "
                           "ePrivacydirektivet art. 5.3",
        "retention": "Lagringstid",
        "retention_none": "Sparas inte längre än sessionen",
        "hosting": "Data lagras i",
        "own_servers": "webbplatsens egna servrar",
        "transfers": "Överföring utanför EU/EES",
        "yes": "Ja",
        "no": "Nej",
        "safeguards": "Skyddsåtgärder",
        "also": "Används också för",
        "needs_also": "Används bara om du också samtycker till",
        "vendor_policy": "Integritetspolicy",
        "cookies": "Cookies och lagring",
        "col_name": "Namn",
        "col_storage": "Lagras i",
        "col_domain": "Domän",
        "col_lifetime": "Livslängd",
        "col_description": "Beskrivning",
        "no_cookies": "Inga cookies eller lagringsnycklar angivna.",
        "first_party": "denna webbplats (förstapart)",
        "third_party": "{domain} (tredje part)",
        "cookie": "Cookie",
        "session": "Session (tills webbläsaren stängs)",
        "persistent": "Beständig (tills den rensas)",
        "glob_note": "En asterisk (*) i ett namn står för valfria tecken.",
        "english_note": "Vissa tekniska uppgifter anges på engelska.",
        "day": ("dag", "dagar"),
        "month": ("månad", "månader"),
        "year": ("år", "år"),
        "date": "{day} {month} {year}",
        "months": ("januari", "februari", "mars", "april", "maj", "juni", "juli",
                   "augusti", "september", "oktober", "november", "december"),
    },
    "nl": {
        "title": "Cookieverklaring",
        "intro": "{controller} gebruikt de hieronder vermelde cookies en vergelijkbare "
                 "technieken (zoals localStorage), gegroepeerd per doel. Strikt "
                 "noodzakelijke zijn altijd actief; alle andere worden alleen gebruikt als "
                 "je toestemming geeft, en je kunt je keuze altijd wijzigen.",
        "controller": "Verwerkingsverantwoordelijke",
        "contact": "Contact",
        "policy": "Privacyverklaring",
        "policy_link": "Lees onze privacyverklaring",
        "updated": "Laatst bijgewerkt op {date} (versie {version})",
        "always_active": "Altijd actief: geen toestemming nodig",
        "needs_consent": "Alleen gebruikt met je toestemming",
        "no_vendors": "Voor dit doel worden geen diensten gebruikt.",
        "provider": "Aangeboden door",
        "legal_basis": "Rechtsgrond",
        "basis_consent": "Je toestemming (AVG art. 6 lid 1 sub a)",
        "basis_necessary": "Strikt noodzakelijk: vrijgesteld van toestemming op grond van "
                           "art. 5 lid 3 van de e-privacyrichtlijn",
        "retention": "Bewaartermijn",
        "retention_none": "Niet langer bewaard dan de sessie",
        "hosting": "Gegevens opgeslagen in",
        "own_servers": "de eigen servers van deze website",
        "transfers": "Doorgifte buiten de EU/EER",
        "yes": "Ja",
        "no": "Nee",
        "safeguards": "Waarborgen",
        "also": "Ook gebruikt voor",
        "needs_also": "Alleen gebruikt als je ook toestemming geeft voor",
        "vendor_policy": "Privacyverklaring",
        "cookies": "Cookies en opslag",
        "col_name": "Naam",
        "col_storage": "Opgeslagen in",
        "col_domain": "Domein",
        "col_lifetime": "Looptijd",
        "col_description": "Beschrijving",
        "no_cookies": "Geen cookies of opslagsleutels opgegeven.",
        "first_party": "deze website (first party)",
        "third_party": "{domain} (derde partij)",
        "cookie": "Cookie",
        "session": "Sessie (tot de browser wordt gesloten)",
        "persistent": "Blijvend (tot je hem wist)",
        "glob_note": "Een sterretje (*) in een naam staat voor willekeurige tekens.",
        "english_note": "Sommige technische gegevens staan in het Engels.",
        "day": ("dag", "dagen"),
        "month": ("maand", "maanden"),
        "year": ("jaar", "jaar"),
        "date": "{day} {month} {year}",
        "months": ("januari", "februari", "maart", "april", "mei", "juni", "juli",
                   "augustus", "september", "oktober", "november", "december"),
    },
    "de": {
        "title": "Cookie-Erklärung",
        "intro": "{controller} verwendet die unten aufgeführten Cookies und ähnlichen "
                 "Technologien (etwa localStorage), nach Zweck geordnet. Unbedingt "
                 "erforderliche sind immer aktiv; alle anderen werden nur mit Ihrer "
                 "Einwilligung verwendet, und Sie können Ihre Wahl jederzeit ändern.",
        "controller": "Verantwortlicher",
        "contact": "Kontakt",
        "policy": "Datenschutzerklärung",
        "policy_link": "Unsere Datenschutzerklärung lesen",
        "updated": "Zuletzt aktualisiert am {date} (Version {version})",
        "always_active": "Immer aktiv: keine Einwilligung erforderlich",
        "needs_consent": "Nur mit Ihrer Einwilligung",
        "no_vendors": "Für diesen Zweck werden keine Dienste eingesetzt.",
        "provider": "Anbieter",
        "legal_basis": "Rechtsgrundlage",
        "basis_consent": "Ihre Einwilligung (Art. 6 Abs. 1 lit. a DSGVO)",
        "basis_necessary": "Unbedingt erforderlich: nach Art. 5 Abs. 3 der "
                           "ePrivacy-Richtlinie von der Einwilligungspflicht ausgenommen",
        "retention": "Speicherdauer",
        "retention_none": "Nicht über die Sitzung hinaus gespeichert",
        "hosting": "Speicherort der Daten",
        "own_servers": "die eigenen Server dieser Website",
        "transfers": "Übermittlung außerhalb der EU/des EWR",
        "yes": "Ja",
        "no": "Nein",
        "safeguards": "Garantien",
        "also": "Auch verwendet für",
        "needs_also": "Nur verwendet, wenn Sie auch einwilligen in",
        "vendor_policy": "Datenschutzerklärung",
        "cookies": "Cookies und Speicher",
        "col_name": "Name",
        "col_storage": "Gespeichert in",
        "col_domain": "Domain",
        "col_lifetime": "Laufzeit",
        "col_description": "Beschreibung",
        "no_cookies": "Keine Cookies oder Speicherschlüssel angegeben.",
        "first_party": "diese Website (First Party)",
        "third_party": "{domain} (Drittanbieter)",
        "cookie": "Cookie",
        "session": "Sitzung (bis der Browser geschlossen wird)",
        "persistent": "Dauerhaft (bis zur Löschung)",
        "glob_note": "Ein Sternchen (*) im Namen steht für beliebige Zeichen.",
        "english_note": "Einige technische Angaben sind auf Englisch.",
        "day": ("Tag", "Tage"),
        "month": ("Monat", "Monate"),
        "year": ("Jahr", "Jahre"),
        "date": "{day}. {month} {year}",
        "months": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli",
                   "August", "September", "Oktober", "November", "Dezember"),
    },
    "nb": {
        "title": "Erklæring om informasjonskapsler",
        "intro": "{controller} bruker informasjonskapslene og de lignende teknologiene (for "
                 "eksempel localStorage) som er oppført nedenfor, sortert etter formål. "
                 "Strengt nødvendige er alltid aktive; alle andre brukes bare hvis du "
                 "samtykker, og du kan når som helst endre valget ditt.",
        "controller": "Behandlingsansvarlig",
        "contact": "Kontakt",
        "policy": "Personvernerklæring",
        "policy_link": "Les personvernerklæringen vår",
        "updated": "Sist oppdatert {date} (versjon {version})",
        "always_active": "Alltid aktive: krever ikke samtykke",
        "needs_consent": "Brukes bare med ditt samtykke",
        "no_vendors": "Ingen tjenester brukes til dette formålet.",
        "provider": "Levert av",
        "legal_basis": "Behandlingsgrunnlag",
        "basis_consent": "Ditt samtykke (GDPR art. 6 nr. 1 bokstav a)",
        "basis_necessary": "Strengt nødvendig: unntatt fra samtykkekravet etter "
                           "ePrivacy-direktivet art. 5 nr. 3",
        "retention": "Lagringstid",
        "retention_none": "Lagres ikke lenger enn økten",
        "hosting": "Data lagres i",
        "own_servers": "nettstedets egne servere",
        "transfers": "Overføring utenfor EU/EØS",
        "yes": "Ja",
        "no": "Nei",
        "safeguards": "Garantier",
        "also": "Brukes også til",
        "needs_also": "Brukes bare hvis du også samtykker til",
        "vendor_policy": "Personvernerklæring",
        "cookies": "Informasjonskapsler og lagring",
        "col_name": "Navn",
        "col_storage": "Lagres i",
        "col_domain": "Domene",
        "col_lifetime": "Levetid",
        "col_description": "Beskrivelse",
        "no_cookies": "Ingen informasjonskapsler eller lagringsnøkler oppgitt.",
        "first_party": "dette nettstedet (førstepart)",
        "third_party": "{domain} (tredjepart)",
        "cookie": "Informasjonskapsel",
        "session": "Økt (til nettleseren lukkes)",
        "persistent": "Varig (til den slettes)",
        "glob_note": "En stjerne (*) i et navn står for vilkårlige tegn.",
        "english_note": "Enkelte tekniske opplysninger er på engelsk.",
        "day": ("dag", "dager"),
        "month": ("måned", "måneder"),
        "year": ("år", "år"),
        "date": "{day}. {month} {year}",
        "months": ("januar", "februar", "mars", "april", "mai", "juni", "juli",
                   "august", "september", "oktober", "november", "desember"),
    },
}

# Country names in en, sv, nl, de, nb order; a country not listed is shown by its code.
COUNTRIES: dict[str, tuple[str, str, str, str, str]] = {
    "AT": ("Austria", "Österrike", "Oostenrijk", "Österreich", "Østerrike"),
    "AU": ("Australia", "Australien", "Australië", "Australien", "Australia"),
    "BE": ("Belgium", "Belgien", "België", "Belgien", "Belgia"),
    "CA": ("Canada", "Kanada", "Canada", "Kanada", "Canada"),
    "CH": ("Switzerland", "Schweiz", "Zwitserland", "Schweiz", "Sveits"),
    "DE": ("Germany", "Tyskland", "Duitsland", "Deutschland", "Tyskland"),
    "DK": ("Denmark", "Danmark", "Denemarken", "Dänemark", "Danmark"),
    "ES": ("Spain", "Spanien", "Spanje", "Spanien", "Spania"),
    "FI": ("Finland", "Finland", "Finland", "Finnland", "Finland"),
    "FR": ("France", "Frankrike", "Frankrijk", "Frankreich", "Frankrike"),
    "GB": ("United Kingdom", "Storbritannien", "Verenigd Koninkrijk",
           "Vereinigtes Königreich", "Storbritannia"),
    "IE": ("Ireland", "Irland", "Ierland", "Irland", "Irland"),
    "IN": ("India", "Indien", "India", "Indien", "India"),
    "IS": ("Iceland", "Island", "IJsland", "Island", "Island"),
    "IT": ("Italy", "Italien", "Italië", "Italien", "Italia"),
    "JP": ("Japan", "Japan", "Japan", "Japan", "Japan"),
    "LU": ("Luxembourg", "Luxemburg", "Luxemburg", "Luxemburg", "Luxembourg"),
    "MT": ("Malta", "Malta", "Malta", "Malta", "Malta"),
    "NL": ("Netherlands", "Nederländerna", "Nederland", "Niederlande", "Nederland"),
    "NO": ("Norway", "Norge", "Noorwegen", "Norwegen", "Norge"),
    "PL": ("Poland", "Polen", "Polen", "Polen", "Polen"),
    "PT": ("Portugal", "Portugal", "Portugal", "Portugal", "Portugal"),
    "SE": ("Sweden", "Sverige", "Zweden", "Schweden", "Sverige"),
    "SG": ("Singapore", "Singapore", "Singapore", "Singapur", "Singapore"),
    "US": ("United States", "USA", "Verenigde Staten", "USA", "USA"),
}

STORAGE = {"local_storage": "localStorage", "session_storage": "sessionStorage"}

assert set(LABELS) == set(CATALOGUE_LANGUAGES), "every catalogue language needs its labels"
assert all(LABELS[lang].keys() == LABELS["en"].keys() for lang in LABELS)


# --- wording helpers ------------------------------------------------------------------------

def country_name(code: str, language: str) -> str:
    names = COUNTRIES.get(code)
    return names[CATALOGUE_LANGUAGES.index(language)] if names else code


def count(n: int, unit: str, labels: dict[str, Any]) -> str:
    singular, plural = labels[unit]
    return f"{n} {singular if n == 1 else plural}"


def round_months(days: int) -> int | None:
    """``days`` as a whole number of months when it is one: 30-day months (90 = 3) or
    calendar-average months (183 = 6, 395 = 13)."""
    months = round(days * 12 / 365)
    if months < 1:
        return None
    exact = months * 365 / 12
    if days == 30 * months or math.floor(exact) <= days <= math.ceil(exact):
        return months
    return None


def lifetime_words(lifetime: int | str, labels: dict[str, Any]) -> str:
    """A cookie's lifetime for people: session, persistent, years or months when the
    number of days is round, else days."""
    if lifetime == "session":
        return labels["session"]
    if lifetime == "persistent":
        return labels["persistent"]
    days = int(lifetime)
    if days % 365 == 0:
        return count(days // 365, "year", labels)
    months = round_months(days)
    if months is not None:
        return count(months, "month", labels)
    return count(days, "day", labels)


def date_words(moment: datetime, labels: dict[str, Any]) -> str:
    return labels["date"].format(day=moment.day, month=labels["months"][moment.month - 1],
                                 year=moment.year)


def link(url: str | None) -> str | None:
    """The URL if it is safe as an href (http or https), else None: shown as text."""
    if not url:
        return None
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else None


# --- the declaration as plain data, for the templates -----------------------------------------

def vendor_facts(vendor: dict[str, Any], language: str, default: str,
                 labels: dict[str, Any]) -> dict[str, Any]:
    company = vendor["company"]
    hosting = vendor["hosting"]
    tier_name = None
    if vendor.get("retention_tier"):
        tier_name = next((t["name"] for t in vendor["retention"].get("tiers", [])
                          if t["id"] == vendor["retention_tier"]), None)
    months = vendor["retention_months"]
    retention = count(months, "month", labels) if months else labels["retention_none"]
    if tier_name:
        retention = f"{retention} ({tier_name})"
    locations = [labels["own_servers"] if code == "site" else country_name(code, language)
                 for code in hosting["locations"]]
    outside = [country_name(code, language) for code in hosting["locations"]
               if code != "site" and code not in EEA]
    return {
        "id": vendor["id"],
        "name": vendor["name"],
        "provider": f"{company['name']} ({country_name(company['country'], language)})",
        "description": localise(vendor["description"], language, default),
        "legal_basis": labels["basis_necessary" if vendor["legal_basis"] == "strictly_necessary"
                              else "basis_consent"],
        "strictly_necessary": vendor["legal_basis"] == "strictly_necessary",
        "retention": retention,
        "hosting": ", ".join(locations),
        "transfers": hosting["transfers_outside_eea"],
        "transfer_countries": ", ".join(outside),
        "safeguards": hosting.get("safeguards"),
        "policy_url": vendor["policy_url"],
        "policy_href": link(vendor["policy_url"]),
        "cookies": [
            {
                "name": cookie["name"],
                "storage": STORAGE.get(cookie["storage"], labels["cookie"]),
                "domain": (labels["first_party"] if cookie["domain"] == "first_party"
                           else labels["third_party"].format(domain=cookie["domain"])),
                "lifetime": lifetime_words(cookie["lifetime"], labels),
                "description": cookie.get("description", ""),
            }
            for cookie in vendor.get("cookies", [])
        ],
        "has_glob": any(c.get("match") == "glob" for c in vendor.get("cookies", [])),
        "purposes": list(vendor["purposes"]),
    }


def declaration(content: dict[str, Any], number: int, published_at: datetime,
                language: str) -> dict[str, Any]:
    default = content["default_language"]
    labels = LABELS[language]
    purpose_names = {p["id"]: localise(p["name"], language, default)
                     for p in content["purposes"]}
    order = [p["id"] for p in content["purposes"]]
    facts = [vendor_facts(v, language, default, labels) for v in content["vendors"]]
    # A vendor with several purposes is listed in full under each of them, not once.
    # Consent is given per purpose, so each purpose's section must say everything that
    # granting it lets happen (a visitor who reads only "Marketing" still sees Piwik PRO's
    # cookies); "Also used for" links the vendor's other purposes, so the repetition is
    # visible rather than confusing. A vendor that needs consent runs only when every one
    # of its purposes is granted, and says so ("Used only if you also consent to").
    purposes = []
    for purpose in content["purposes"]:
        vendors = []
        for vendor in facts:
            if purpose["id"] not in vendor["purposes"]:
                continue
            others = sorted((p for p in vendor["purposes"] if p != purpose["id"] and p in order),
                            key=order.index)
            vendors.append({**vendor, "also": [(p, purpose_names[p]) for p in others]})
        purposes.append({
            "id": purpose["id"],
            "required": purpose["required"],
            "name": purpose_names[purpose["id"]],
            "description": localise(purpose["description"], language, default),
            "vendors": vendors,
        })
    controller = content.get("controller") or {}
    controller_line = ", ".join(
        part for part in (controller.get("name"), controller.get("address"),
                          country_name(controller["country"], language)
                          if controller.get("country") else None)
        if part
    )
    moment = published_at if published_at.tzinfo is None else published_at.astimezone(timezone.utc)
    return {
        "language": language,
        "version": number,
        "intro": labels["intro"].format(controller=controller.get("name") or ""),
        "controller": controller_line,
        "controller_name": controller.get("name"),
        "email": controller.get("email"),
        "policy_url": content.get("policy_url"),
        "policy_href": link(content.get("policy_url")),
        "updated": labels["updated"].format(date=date_words(moment, labels), version=number),
        "published_on": moment.date().isoformat(),
        "purposes": purposes,
        "has_glob": any(v["has_glob"] for v in facts),
        "english_note": labels["english_note"] if facts else "",
    }


# --- rendering and the views ----------------------------------------------------------------

@dataclass(frozen=True)
class Rendered:
    body: bytes
    etag: str


def _published_at(ref: configs.VersionRef) -> datetime:
    return db.session.execute(
        select(ConfigVersion.published_at).where(ConfigVersion.id == ref.id)
    ).scalar_one()


def render(ref: configs.VersionRef, language: str, kind: str) -> Rendered:
    """The page or fragment for one published version and language, kept per app (a
    published version never changes, and the ref names it completely)."""
    def load() -> Rendered:
        content = configs.published_content(ref)
        data = declaration(content, ref.number, _published_at(ref), language)
        template = "declaration_page.html" if kind == PAGE else "declaration_fragment.html"
        html = render_template(template, d=data, t=LABELS[language],
                               heading=1 if kind == PAGE else 2)
        body = html.encode("utf-8")
        return Rendered(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')

    return app_cache("declaration_rendered", float("inf")).get((ref, language, kind), load)


def requested_language() -> str | None:
    lang = request.args.get("lang")
    if lang is not None and (len(lang) > 35 or not LANGUAGE_TAG.match(lang)):
        error = UnprocessableEntity("The request's parameters are invalid.")
        error.errors = {"query": {"lang": ["must be a language tag such as sv or nb-NO"]}}
        raise error
    return lang


def answer(site_key: str, kind: str) -> Response:
    lang = requested_language()
    ref = configs.published_ref(site_key) if SITE_KEY.match(site_key) else None
    if ref is None:
        abort(404, description=f"Site {site_key!r} is unknown or has no published configuration.")
    default = configs.published_content(ref)["default_language"]
    language = negotiate(lang, request.headers.get("Accept-Language"), default)
    if language not in LABELS:
        language = "en"
    rendered = render(ref, language, kind)
    if request.if_none_match.contains_weak(rendered.etag.strip('"')):
        response = Response(status=304)
    else:
        response = Response(rendered.body, mimetype="text/html")
        response.headers["Content-Language"] = language
    response.headers["ETag"] = rendered.etag
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    response.headers["Vary"] = "Accept-Language"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Nothing in either body loads or runs anything; the page has one inline <style>.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
        if kind == PAGE else "default-src 'none'"
    )
    return response


@bp.get("/sites/<site_key>/cookies")
def page(site_key: str):
    """The cookie declaration as a complete page."""
    return answer(site_key, PAGE)


@bp.get("/sites/<site_key>/cookies.fragment.html")
def fragment(site_key: str):
    """The cookie declaration as a script-free fragment for a site to insert."""
    return answer(site_key, FRAGMENT)


@bp.after_request
def cors(response: Response) -> Response:
    """Any origin may fetch the fragment (it is public and holds no personal data),
    including its errors and the preflight for a conditional request."""
    if request.endpoint == "declaration.fragment":
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = "ETag, Content-Language"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET"
            response.headers["Access-Control-Allow-Headers"] = "If-None-Match"
            response.headers["Access-Control-Max-Age"] = "86400"
    return response
