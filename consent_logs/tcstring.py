"""IAB TCF v2 Transparency & Consent strings and Google Additional Consent strings, decoded
with the standard library only, so that an auditor's offline verifier can check what a
consent receipt says against the strings it stored.

The TC string format is IAB Tech Lab's "Transparency and Consent String with Global Vendor
List Format" (TCF v2.3): a core segment, the DisclosedVendors segment (mandatory since
v2.3), optionally a PublisherTC segment, and, in old strings, possibly an AllowedVendors
segment (out-of-band consent, deprecated in 2021 with global scope). Segments are
base64url without padding, joined by "."; every field is big-endian, bits numbered left to
right. Error messages name fields as the specification does.

The AC string format is Google's "Additional Consent technical specification", version 2:
``2~1.35.41.101~dv.9.21.81`` lists the consented Ad Tech Provider ids, then, after ``dv.``,
ids disclosed to the user but not consented to (Google asks that a consented id not be
repeated there: consent implies disclosure). Version 1 strings (``1~1.35.41``) have no
``dv.`` part and are still accepted by Google.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

__all__ = [
    "ACString", "PublisherRestriction", "PublisherTC", "TCString", "TCStringError",
    "check_receipt_tcf", "decode", "parse_ac_string",
]

Ids = tuple[int, ...]

_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SEXTETS = {char: format(value, "06b") for value, char in enumerate(_BASE64URL)}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TC_VERSION = 2
_RESTRICTION_TYPES = (0, 1, 2)  # not allowed, require consent, require LI; 3 is undefined


class TCStringError(ValueError):
    """A TC or AC string that cannot be decoded; the message names the field and why."""


@dataclass(frozen=True)
class PublisherRestriction:
    purpose_id: int
    restriction_type: int  # 0 purpose not allowed, 1 require consent, 2 require LI
    vendors: Ids


@dataclass(frozen=True)
class PublisherTC:
    purposes_consent: Ids
    purposes_li: Ids
    num_custom_purposes: int
    custom_purposes_consent: Ids
    custom_purposes_li: Ids


@dataclass(frozen=True)
class TCString:
    version: int
    created: datetime
    last_updated: datetime
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str
    vendor_list_version: int
    policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_features: Ids
    purposes_consent: Ids
    purposes_li: Ids
    purpose_one_treatment: bool
    publisher_cc: str
    vendors_consent: Ids
    vendors_li: Ids
    publisher_restrictions: tuple[PublisherRestriction, ...]
    disclosed_vendors: Ids | None
    allowed_vendors: Ids | None
    publisher_tc: PublisherTC | None


@dataclass(frozen=True)
class ACString:
    version: int
    consented: Ids
    disclosed: Ids  # the ids after "dv.", as written: consented ids are not repeated there


class BitReader:
    """Reads one segment's fields in order, failing with the field's name when bits run out."""

    def __init__(self, segment: str, where: str, budget: list[int]):
        self.where = where  # "core segment", "segment 2 (DisclosedVendors)": starts messages
        self.budget = budget  # [vendor ids the string may still name]
        self.position = 0
        for index, char in enumerate(segment):
            if char not in _SEXTETS:
                raise TCStringError(
                    f"{where}: character {char!r} at position {index} is not base64url")
        self.bits = "".join(_SEXTETS[char] for char in segment)

    def fail(self, why: str) -> TCStringError:
        return TCStringError(f"{self.where}: {why}")

    def count_ids(self, count: int, section: str) -> None:
        """Counts vendor ids against the string's MAX_IDS (shared by its segments' readers)."""
        self.budget[0] -= count
        if self.budget[0] < 0:
            raise self.fail(f"{section} takes the string past {MAX_IDS} vendor ids")

    def take(self, width: int, field: str) -> str:
        left = len(self.bits) - self.position
        if width > left:
            raise self.fail(f"{field} needs {width} bits at bit {self.position}, "
                            f"only {left} left (truncated string)")
        self.position += width
        return self.bits[self.position - width:self.position]

    def number(self, width: int, field: str) -> int:
        return int(self.take(width, field) or "0", 2)

    def flag(self, width: int, field: str) -> bool:
        return self.take(width, field) == "1"

    def ids(self, width: int, field: str) -> Ids:
        """A bitfield: bit i (from 0) set means id i + 1."""
        self.count_ids(width, field)
        return tuple(index + 1 for index, bit in enumerate(self.take(width, field)) if bit == "1")

    def letters(self, width: int, field: str) -> str:
        """Two 6-bit letters, a=0 .. z=25, returned upper case."""
        half = width // 2
        codes = (self.number(half, field), self.number(half, field))
        if max(codes) > 25:
            raise self.fail(f"{field} letter value {max(codes)} is not a-z")
        return "".join(chr(ord("A") + code) for code in codes)

    def deciseconds(self, width: int, field: str) -> datetime:
        return _EPOCH + timedelta(milliseconds=100 * self.number(width, field))


_Read = Callable[[BitReader, int, str], object]

# The core segment after Version, up to the vendor sections: (attribute, IAB name, bits, reader).
_CORE_FIELDS: tuple[tuple[str, str, int, _Read], ...] = (
    ("created", "Created", 36, BitReader.deciseconds),
    ("last_updated", "LastUpdated", 36, BitReader.deciseconds),
    ("cmp_id", "CmpId", 12, BitReader.number),
    ("cmp_version", "CmpVersion", 12, BitReader.number),
    ("consent_screen", "ConsentScreen", 6, BitReader.number),
    ("consent_language", "ConsentLanguage", 12, BitReader.letters),
    ("vendor_list_version", "VendorListVersion", 12, BitReader.number),
    ("policy_version", "TcfPolicyVersion", 6, BitReader.number),
    ("is_service_specific", "IsServiceSpecific", 1, BitReader.flag),
    ("use_non_standard_texts", "UseNonStandardTexts", 1, BitReader.flag),
    ("special_features", "SpecialFeatureOptIns", 12, BitReader.ids),
    ("purposes_consent", "PurposesConsent", 24, BitReader.ids),
    ("purposes_li", "PurposesLITransparency", 24, BitReader.ids),
    ("purpose_one_treatment", "PurposeOneTreatment", 1, BitReader.flag),
    ("publisher_cc", "PublisherCC", 12, BitReader.letters),
)


# A TC string names at most this many vendor ids in all (a real one names a few thousand):
# ranges are merged before they are counted out, so a string of overlapping ranges over
# every id costs no more than one that names each id once.
MAX_IDS = 200_000


def _range_entries(reader: BitReader, section: str, max_id: int | None = None) -> Ids:
    """NumEntries(12), then per entry IsARange(1) StartOrOnlyVendorId(16) [EndVendorId(16)]."""
    ranges: list[tuple[int, int]] = []
    for entry in range(reader.number(12, f"{section}.NumEntries")):
        field = f"{section} range entry {entry + 1}"
        is_range = reader.flag(1, f"{field}.IsARange")
        start = reader.number(16, f"{field}.StartOrOnlyVendorId")
        end = reader.number(16, f"{field}.EndVendorId") if is_range else start
        if start == 0:
            raise reader.fail(f"{field} starts at vendor id 0")
        if end < start:
            raise reader.fail(f"{field} ends at {end}, before its start {start}")
        if max_id is not None and end > max_id:
            raise reader.fail(
                f"{field} reaches vendor id {end}, beyond {section}.MaxVendorId {max_id}")
        ranges.append((start, end))
    merged: list[list[int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    reader.count_ids(sum(end - start + 1 for start, end in merged), section)
    return tuple(id_ for start, end in merged for id_ in range(start, end + 1))


def _vendor_section(reader: BitReader, section: str) -> Ids:
    """MaxVendorId(16) IsRangeEncoding(1), then a bitfield of MaxVendorId bits or ranges."""
    max_id = reader.number(16, f"{section}.MaxVendorId")
    if reader.flag(1, f"{section}.IsRangeEncoding"):
        return _range_entries(reader, section, max_id)
    return reader.ids(max_id, f"{section}.BitField")


def _publisher_restrictions(reader: BitReader) -> tuple[PublisherRestriction, ...]:
    """Sorted by purpose and type: the order in the string carries no meaning."""
    restrictions = []
    for number in range(reader.number(12, "NumPubRestrictions")):
        field = f"PubRestrictionEntry {number + 1}"
        purpose_id = reader.number(6, f"{field}.PurposeId")
        restriction_type = reader.number(2, f"{field}.RestrictionType")
        if restriction_type not in _RESTRICTION_TYPES:
            raise reader.fail(f"{field}.RestrictionType {restriction_type} is undefined")
        vendors = _range_entries(reader, field)
        restrictions.append(PublisherRestriction(purpose_id, restriction_type, vendors))
    return tuple(sorted(restrictions, key=lambda entry: (entry.purpose_id, entry.restriction_type)))


def _core(segment: str, budget: list[int]) -> dict[str, object]:
    reader = BitReader(segment, "core segment", budget)
    version = reader.number(6, "Version")
    if version != _TC_VERSION:
        raise reader.fail(f"Version is {version}, only TCF v2 strings (Version 2) are decoded")
    fields: dict[str, object] = {"version": version}
    for attribute, name, width, read in _CORE_FIELDS:
        fields[attribute] = read(reader, width, name)
    fields["vendors_consent"] = _vendor_section(reader, "VendorConsents")
    fields["vendors_li"] = _vendor_section(reader, "VendorLegitimateInterests")
    fields["publisher_restrictions"] = _publisher_restrictions(reader)
    return fields


def _publisher_tc(reader: BitReader) -> PublisherTC:
    consent = reader.ids(24, "PubPurposesConsent")
    li = reader.ids(24, "PubPurposesLITransparency")
    count = reader.number(6, "NumCustomPurposes")
    return PublisherTC(consent, li, count, reader.ids(count, "CustomPurposesConsent"),
                       reader.ids(count, "CustomPurposesLITransparency"))


# The segments after the core, by SegmentType(3): (IAB name, TCString attribute, reader).
_SEGMENTS: dict[int, tuple[str, str, Callable[[BitReader], object]]] = {
    1: ("DisclosedVendors", "disclosed_vendors",
        lambda reader: _vendor_section(reader, "DisclosedVendors")),
    2: ("AllowedVendors", "allowed_vendors",
        lambda reader: _vendor_section(reader, "AllowedVendors")),
    3: ("PublisherTC", "publisher_tc", _publisher_tc),
}


def _other_segment(segment: str, number: int, budget: list[int]) -> tuple[str, str, object]:
    """The segment's IAB name, the TCString attribute it fills and the value decoded."""
    reader = BitReader(segment, f"segment {number}", budget)
    segment_type = reader.number(3, "SegmentType")
    if segment_type not in _SEGMENTS:
        raise reader.fail(f"unknown SegmentType {segment_type} "
                          "(1 DisclosedVendors, 2 AllowedVendors, 3 PublisherTC)")
    name, attribute, read = _SEGMENTS[segment_type]
    reader.where = f"segment {number} ({name})"
    return name, attribute, read(reader)


def decode(tc_string: str) -> TCString:
    """Decode a TCF v2 TC string; raises TCStringError naming the first field that fails."""
    if not isinstance(tc_string, str) or not tc_string:
        raise TCStringError("TC string is empty or not a string")
    core, *others = tc_string.split(".")
    if not core:
        raise TCStringError("core segment is empty")
    budget = [MAX_IDS]
    fields = _core(core, budget)  # bits after a segment's last field are padding, ignored as IAB does
    fields.update({attribute: None for _, attribute, _ in _SEGMENTS.values()})
    seen: set[str] = set()
    for number, segment in enumerate(others, start=2):
        if not segment:
            raise TCStringError(f"segment {number} is empty")
        name, attribute, value = _other_segment(segment, number, budget)
        if name in seen:
            raise TCStringError(f"segment {number}: duplicate {name} segment")
        seen.add(name)
        fields[attribute] = value
    return TCString(**fields)  # type: ignore[arg-type]


_AC_ID = re.compile(r"[1-9][0-9]{0,8}")  # Google's ids are small; a longer number is no id


def _ac_ids(text: str, part: str) -> Ids:
    if not text:
        return ()
    ids = []
    for item in text.split("."):
        if not _AC_ID.fullmatch(item):
            raise TCStringError(f"AC string: {part} id {item!r} is not a positive decimal integer")
        ids.append(int(item))
    if len(set(ids)) != len(ids):
        raise TCStringError(f"AC string: {part} lists an id twice")
    return tuple(sorted(ids))


def parse_ac_string(ac: str) -> ACString:
    """Parse ``2~<consented ids>~dv.<disclosed ids>`` (or version 1, ``1~<consented ids>``)."""
    if not isinstance(ac, str) or not ac:
        raise TCStringError("AC string is empty or not a string")
    version, separator, rest = ac.partition("~")
    if not separator:
        raise TCStringError("AC string: no '~' after the version")
    if version == "1":
        if "~" in rest:
            raise TCStringError("AC string: version 1 has only '1~<consented ids>'")
        return ACString(1, _ac_ids(rest, "consented"), ())
    if version != "2":
        raise TCStringError(f"AC string: version {version!r} is not 1 or 2")
    consented, separator, disclosed = rest.partition("~")
    if not separator or not disclosed.startswith("dv.") or "~" in disclosed:
        raise TCStringError("AC string: version 2 needs '2~<consented ids>~dv.<disclosed ids>'")
    return ACString(2, _ac_ids(consented, "consented"),
                    _ac_ids(disclosed.removeprefix("dv."), "disclosed"))


# Receipt keys compared one to one with the decoded TC string, in the order checked.
_RECEIPT_TC_FIELDS = (
    ("cmp_id", "cmp_id"), ("cmp_version", "cmp_version"),
    ("vendor_list_version", "vendor_list_version"), ("policy_version", "policy_version"),
    ("purposes_consent", "purposes_consent"), ("purposes_li", "purposes_li"),
    ("special_features", "special_features"), ("vendors_consent", "vendors_consent"),
    ("vendors_li", "vendors_li"), ("vendors_disclosed", "disclosed_vendors"),
)
_RECEIPT_KEYS = frozenset(key for key, _ in _RECEIPT_TC_FIELDS) | {
    "tc_string", "ac_string", "ac_consent", "ac_disclosed"}


def receipt_fields(tc_string: str, ac_string: str | None, tc: TCString | None = None) -> dict:
    """The ``tcf`` object a receipt stores for these strings: the strings and what they
    decode to (check_receipt_tcf compares the two); TC is the TC string decoded, when the
    caller has it. Raises TCStringError when the TC string does not decode, lacks
    DisclosedVendors (mandatory since TCF v2.3) or the AC string does not parse."""
    tc = tc or decode(tc_string)
    if tc.disclosed_vendors is None:
        raise TCStringError("tc_string: no DisclosedVendors segment (mandatory since TCF v2.3)")
    ac = parse_ac_string(ac_string) if ac_string is not None else None
    fields = {key: getattr(tc, attribute) for key, attribute in _RECEIPT_TC_FIELDS}
    return {
        "tc_string": tc_string, "ac_string": ac_string,
        **{key: list(value) if isinstance(value, tuple) else value for key, value in fields.items()},
        "ac_consent": list(ac.consented) if ac else [],
        "ac_disclosed": list(ac.disclosed) if ac else [],
    }


def _id_list(ids: Sequence[int]) -> str:
    """Ids for a one-line message: at most eight, then the count."""
    shown = ",".join(map(str, ids[:8]))
    return f"[{shown},... {len(ids)} ids]" if len(ids) > 8 else f"[{shown}]"


def _disagreement(key: str, stated: object, decoded: object, source: str) -> str | None:
    """None when the receipt's value equals the decoded one, else a one-line message."""
    if isinstance(decoded, tuple):
        if isinstance(stated, list) and tuple(stated) == decoded:
            return None
        if not isinstance(stated, list) or any(type(item) is not int for item in stated):
            return f"{key}: receipt has {stated!r}, not a list of integer ids"
        extra = sorted(set(stated) - set(decoded))
        missing = sorted(set(decoded) - set(stated))
        if not extra and not missing:
            return f"{key}: receipt's ids are not sorted or repeat an id"
        said = [f"receipt lists {_id_list(extra)} not in the {source}"] if extra else []
        said += [f"the {source} has {_id_list(missing)} not in the receipt"] if missing else []
        return f"{key}: " + "; ".join(said)
    if stated == decoded and type(stated) is type(decoded):
        return None
    return f"{key}: receipt says {stated!r}, the {source} says {decoded!r}"


def _not_among(key: str, ids: Ids, among: Ids, what: str) -> str | None:
    outside = sorted(set(ids) - set(among))
    return f"{key}: {_id_list(outside)} not among the {what}" if outside else None


def _check_tc(tcf: dict) -> str | None:
    try:
        tc = decode(tcf["tc_string"])
    except TCStringError as error:
        return f"tc_string: {error}"
    if tc.disclosed_vendors is None:
        return "tc_string: no DisclosedVendors segment (mandatory since TCF v2.3)"
    for key, attribute in _RECEIPT_TC_FIELDS:
        message = _disagreement(key, tcf[key], getattr(tc, attribute), "TC string")
        if message:
            return message
    for key in ("vendors_consent", "vendors_li"):
        message = _not_among(key, getattr(tc, key), tc.disclosed_vendors, "DisclosedVendors")
        if message:
            return message
    return None


def _check_ac(tcf: dict) -> str | None:
    if tcf["ac_string"] is None:
        for key in ("ac_consent", "ac_disclosed"):
            if tcf[key]:
                return f"{key}: receipt lists {_id_list(tcf[key])} but has no ac_string"
        return None
    try:
        ac = parse_ac_string(tcf["ac_string"])
    except TCStringError as error:
        return f"ac_string: {error}"
    for key, decoded in (("ac_consent", ac.consented), ("ac_disclosed", ac.disclosed)):
        message = _disagreement(key, tcf[key], decoded, "AC string")
        if message:
            return message
    return None


def check_receipt_tcf(tcf: dict) -> str | None:
    """None when a consent receipt's ``tcf`` object agrees with its own TC and AC strings,
    else a one-line message naming the first disagreement.

    In order: the TC string decodes and has the DisclosedVendors segment (mandatory since
    TCF v2.3); cmp_id .. vendors_disclosed equal what it decodes to; every vendor with
    consent or legitimate interest was disclosed; the AC string, if any, parses to
    ac_consent and ac_disclosed (without one, both are empty). ac_disclosed is the "dv."
    list as written, so it is not expected to contain the consented ids: Google's
    specification says a consented id is not repeated there."""
    missing = sorted(_RECEIPT_KEYS - set(tcf))
    if missing:
        return f"tcf object lacks {', '.join(missing)}"
    return _check_tc(tcf) or _check_ac(tcf)
