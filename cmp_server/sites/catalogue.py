"""The vendor catalogue: validation of the data files in ``vendors/`` and their import.

A file is validated whole before anything from it is used. A bad file is refused with its
file name, the field and the reason; the other files still load. Run
``python -m cmp_server.catalogue [DIR]`` to check a directory without a database.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cmp_server.platform.errors import flatten_errors
from cmp_server.platform.schemas import FullMatch, StrictBoolean, StrictSchema
from cmp_server.platform.settings import default_vendors_dir
from marshmallow import (
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

CATALOGUE_LANGUAGES = ("en", "sv", "nl", "de", "nb")
CORE_PURPOSES = ("necessary", "preferences", "analytics", "marketing")
PURPOSES_FILE = "purposes.toml"
LEGAL_BASES = {
    "consent": "GDPR Art. 6(1)(a)",
    "strictly_necessary": "ePrivacy Directive Art. 5(3) exemption (strictly necessary)",
}
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
COOKIE_DOMAIN = re.compile(r"^\.?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
HOSTING_LOCATION = re.compile(r"^(?:[A-Z]{2}|site)$")  # "site": self-hosted, where the site is
MAX_RETENTION_MONTHS = 240
MAX_GLOB_STARS = 2
CONSENT_SIGNALS = ("google_consent_mode", "microsoft_uet", "microsoft_clarity")

slug_field = fields.String(
    required=True,
    validate=FullMatch(SLUG, error="must be a slug: a-z, 0-9 and single hyphens"),
)


def text(max_length: int = 2000, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


# What a cataloguer notes for themselves must not reach a visitor: such notes go into the
# file's comments, or into fields visitors never see (retention.note, sources).
INTERNAL_REMARK = re.compile(
    r"not verified|not checked|not confirmed|unverified|assumed|\bTODO\b|\bFIXME\b|\?\?|\.\.(?!\.)",
    re.IGNORECASE)


def no_internal_remark(value: str) -> None:
    found = INTERNAL_REMARK.search(value)
    if found:
        raise ValidationError(f"visitors read this: {found.group(0)!r} looks like a note for the "
                              "catalogue's authors; put it in a comment")


def visitor_text(max_length: int = 2000, **kwargs) -> fields.String:
    """Text a visitor reads (in the banner, the declaration or /my-consent/)."""
    return fields.String(validate=[validate.Length(min=1, max=max_length), no_internal_remark],
                         **kwargs)


def glob_regex(name: str) -> re.Pattern:
    """A catalogue cookie pattern: "*" matches any run of characters, nothing else is special
    (the banner tests names with the same expression's source)."""
    return re.compile("^" + ".*".join(re.escape(part) for part in name.split("*")) + "$")


class Translated(fields.Dict):
    """A text in every catalogue language, and optionally in any other language the banner
    speaks (cmp_server.banner.document: a banner shows only a language it has every
    purpose's texts in)."""

    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(), values=visitor_text(), required=True, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        from cmp_server.banner.strings import BANNER_LANGUAGES

        result = super()._deserialize(value, attr, data, **kwargs)
        missing = [lang for lang in CATALOGUE_LANGUAGES if lang not in result]
        unknown = sorted(set(result) - set(BANNER_LANGUAGES))
        if missing:
            raise ValidationError(f"missing language(s): {', '.join(missing)}")
        if unknown:
            raise ValidationError(
                f"unsupported language(s): {', '.join(unknown)}; "
                f"use {', '.join(BANNER_LANGUAGES)}"
            )
        return result


class Lifetime(fields.Field):
    """Days as an integer >= 1, or "session", or "persistent"."""

    default_error_messages = {
        "invalid": 'must be a whole number of days >= 1, "session" or "persistent"'
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("session", "persistent"):
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        raise self.make_error("invalid")


class PurposeSchema(StrictSchema):
    id = slug_field
    required = StrictBoolean(load_default=False)
    name = Translated()
    description = Translated()


class PurposesFileSchema(StrictSchema):
    purposes = fields.List(fields.Nested(PurposeSchema), required=True)

    @validates_schema
    def core_purposes_present(self, data, **_kwargs):
        ids = [p["id"] for p in data["purposes"]]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValidationError(f"duplicate id(s): {', '.join(duplicates)}", "purposes")
        missing = [p for p in CORE_PURPOSES if p not in ids]
        if missing:
            raise ValidationError(f"missing core purpose(s): {', '.join(missing)}", "purposes")
        required = [p["id"] for p in data["purposes"] if p["required"]]
        if required != ["necessary"]:
            raise ValidationError(
                'exactly one purpose, "necessary", may be required', "purposes"
            )


class CompanySchema(StrictSchema):
    name = visitor_text(200, required=True)
    address = text(500, required=True)
    country = fields.String(
        required=True, validate=FullMatch(COUNTRY, error="must be an ISO 3166-1 alpha-2 code")
    )


class RetentionTierSchema(StrictSchema):
    id = slug_field
    name = visitor_text(100, required=True)
    months = fields.Integer(
        strict=True, required=True, validate=validate.Range(0, MAX_RETENTION_MONTHS)
    )
    default = StrictBoolean(load_default=False)


class RetentionSchema(StrictSchema):
    months = fields.Integer(strict=True, validate=validate.Range(0, MAX_RETENTION_MONTHS))
    tiers = fields.List(fields.Nested(RetentionTierSchema), validate=validate.Length(min=2))
    note = text(1000)

    @validates_schema
    def months_or_tiers(self, data, **_kwargs):
        if ("months" in data) == ("tiers" in data):
            raise ValidationError("give either months or tiers, not both or neither", "months")
        tiers = data.get("tiers", [])
        ids = [t["id"] for t in tiers]
        if len(set(ids)) != len(ids):
            raise ValidationError("tier ids must be unique", "tiers")
        if tiers and sum(t["default"] for t in tiers) != 1:
            raise ValidationError("exactly one tier must have default = true", "tiers")


class HostingSchema(StrictSchema):
    locations = fields.List(
        fields.String(validate=FullMatch(
            HOSTING_LOCATION,
            error='must be an ISO 3166-1 alpha-2 code, or "site" for the site\'s own servers',
        )),
        required=True,
        validate=validate.Length(min=1),
    )
    transfers_outside_eea = StrictBoolean(required=True)
    safeguards = visitor_text(1000)

    @validates_schema
    def safeguards_for_transfers(self, data, **_kwargs):
        if data.get("transfers_outside_eea") and not data.get("safeguards"):
            raise ValidationError(
                "required when transfers_outside_eea is true", "safeguards"
            )


class CookieSchema(StrictSchema):
    name = text(200, required=True)
    match = fields.String(load_default="exact", validate=validate.OneOf(["exact", "glob"]))
    storage = fields.String(
        required=True, validate=validate.OneOf(["cookie", "local_storage", "session_storage"])
    )
    domain = fields.String(required=True)
    lifetime = Lifetime(required=True)
    description = visitor_text(500, required=True)

    @validates_schema
    def consistent(self, data, **_kwargs):
        if data.get("match") == "exact" and "*" in data.get("name", ""):
            raise ValidationError('contains "*": set match = "glob"', "name")
        if data.get("name", "").count("*") > MAX_GLOB_STARS:
            # each "*" more multiplies what matching a long name can cost (in every
            # visitor's browser and in the scanner): two cover every real cookie name
            raise ValidationError(f'at most {MAX_GLOB_STARS} "*" in a name', "name")
        domain = data.get("domain", "")
        if domain != "first_party" and not COOKIE_DOMAIN.fullmatch(domain):
            raise ValidationError(
                'must be "first_party" or a domain such as ".example.com"', "domain"
            )


class SourceSchema(StrictSchema):
    url = fields.Url(required=True, schemes={"https", "http"})
    facts = text(500, required=True)


class VendorSchema(StrictSchema):
    id = slug_field
    name = visitor_text(200, required=True)
    purposes = fields.List(slug_field, required=True, validate=validate.Length(min=1))
    legal_basis = fields.String(required=True, validate=validate.OneOf(sorted(LEGAL_BASES)))
    policy_url = fields.Url(required=True, schemes={"https"})
    hosts = fields.List(
        fields.String(
            validate=FullMatch(
                HOST_PATTERN, error='must be a lower-case host name, optionally "*.host"'
            )
        ),
        required=True,
    )
    company = fields.Nested(CompanySchema, required=True)
    retention = fields.Nested(RetentionSchema, required=True)
    hosting = fields.Nested(HostingSchema, required=True)
    cookies = fields.List(fields.Nested(CookieSchema), load_default=list)
    # consent signals the vendor's own tags read: Google's Consent Mode
    # (cmp_server.sites.google_consent_mode), Microsoft UET's consent mode, Clarity's consent API
    consent_signals = fields.List(fields.String(validate=validate.OneOf(CONSENT_SIGNALS)),
                                  validate=validate.Length(min=1))
    description = Translated()
    sources = fields.List(
        fields.Nested(SourceSchema), required=True, validate=validate.Length(min=1)
    )

    @validates_schema
    def basis_matches_purposes(self, data, **_kwargs):
        purposes = data.get("purposes", [])
        if len(set(purposes)) != len(purposes):
            raise ValidationError("purposes must not repeat", "purposes")
        necessary_only = purposes == ["necessary"]
        if data.get("legal_basis") == "strictly_necessary" and not necessary_only:
            raise ValidationError(
                'strictly_necessary vendors have purposes = ["necessary"] only', "legal_basis"
            )
        if data.get("legal_basis") == "consent" and "necessary" in purposes:
            raise ValidationError(
                'a consent vendor cannot claim the purpose "necessary"', "purposes"
            )


@dataclass(frozen=True)
class Refusal:
    """Why one file was refused: the file, the field (dotted path) and the reason."""

    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


@dataclass
class Catalogue:
    purposes: dict[str, dict[str, Any]] = field(default_factory=dict)
    vendors: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[Refusal] = field(default_factory=list)


class FileRefused(Exception):
    def __init__(self, refusals: list[Refusal]):
        super().__init__("; ".join(str(r) for r in refusals))
        self.refusals = refusals


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise FileRefused([Refusal(path.name, "(syntax)", f"not valid TOML: {error}")]) from None
    except UnicodeDecodeError as error:
        raise FileRefused([Refusal(path.name, "(encoding)", f"not UTF-8: {error}")]) from None


def validate_document(path: Path, schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as error:
        raise FileRefused(
            [Refusal(path.name, where, why) for where, why in flatten_errors(error.messages, root="(file)")]
        ) from None


def load_purposes(path: Path) -> dict[str, dict[str, Any]]:
    document = validate_document(path, PurposesFileSchema(), read_toml(path))
    purposes = {}
    for position, purpose in enumerate(document["purposes"]):
        purposes[purpose["id"]] = {**purpose, "position": position}
    return purposes


def load_vendor(path: Path, purposes: dict[str, dict[str, Any]]) -> dict[str, Any]:
    vendor = validate_document(path, VendorSchema(), read_toml(path))
    refusals = []
    if vendor["id"] != path.stem:
        refusals.append(Refusal(path.name, "id", f"must equal the file name {path.stem!r}"))
    for index, purpose in enumerate(vendor["purposes"]):
        if purpose not in purposes:
            refusals.append(
                Refusal(path.name, f"purposes[{index}]", f"unknown purpose {purpose!r}")
            )
    if refusals:
        raise FileRefused(refusals)
    return vendor


def load_catalogue(directory: str | Path) -> Catalogue:
    """Validate every file of a catalogue directory. Without valid purposes no vendor can be
    checked, so a bad purposes file refuses the whole directory."""
    directory = Path(directory)
    catalogue = Catalogue()
    try:
        catalogue.purposes = load_purposes(directory / PURPOSES_FILE)
    except FileNotFoundError:
        catalogue.refused.append(Refusal(PURPOSES_FILE, "(file)", f"missing in {directory}"))
        return catalogue
    except FileRefused as refused:
        catalogue.refused.extend(refused.refusals)
        return catalogue
    for path in sorted(directory.glob("*.toml")):
        if path.name == PURPOSES_FILE:
            continue
        try:
            vendor = load_vendor(path, catalogue.purposes)
        except FileRefused as refused:
            catalogue.refused.extend(refused.refusals)
        else:
            catalogue.vendors[vendor["id"]] = vendor
    return catalogue


def retention_months(vendor: dict[str, Any], tier: str | None = None) -> int:
    """The vendor's data retention, for the given tier or the default one."""
    retention = vendor["retention"]
    if "months" in retention:
        return retention["months"]
    tiers = retention["tiers"]
    chosen = next((t for t in tiers if t["id"] == tier), None) if tier else None
    return (chosen or next(t for t in tiers if t["default"]))["months"]


def check(directory: Path | None = None) -> tuple[list[str], bool]:
    """Validate a catalogue directory without a database: the report's lines, and whether
    every file passed."""
    catalogue = load_catalogue(directory or default_vendors_dir())
    lines = [f"refused  {refusal}" for refusal in catalogue.refused]
    lines.append(f"{len(catalogue.purposes)} purposes, {len(catalogue.vendors)} vendors valid, "
                 f"{len({r.file for r in catalogue.refused})} file(s) refused")
    return lines, not catalogue.refused
