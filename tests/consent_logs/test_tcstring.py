"""TC and AC string decoding, checked against IAB's own library: tests/data/tcstrings.json
holds strings that @iabtcf/core 1.5.6 encoded and the fields it decoded back from them
(tests/data/make_tcstrings.mjs wrote it; Node is not needed to run these tests)."""
from __future__ import annotations

import ast
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from consent_logs import tcstring
from consent_logs.tcstring import (
    ACString, PublisherRestriction, PublisherTC, TCString, TCStringError, check_receipt_tcf,
    decode, parse_ac_string,
)

FIXTURE = json.loads((Path(__file__).parents[1] / "data" / "tcstrings.json").read_text())
CASES = {case["name"]: case for case in FIXTURE["cases"]}
GOOGLE_EXAMPLE_AC = "2~1.35.41.101~dv.9.21.81"  # the example in Google's AC specification
BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
CORE_HEADER_BITS = 213  # Version .. PublisherCC: the fixed-width part of the core segment


def expected_tc(expected: dict) -> TCString:
    """The fixture's IAB-decoded fields as the TCString the decoder must return."""
    def ids(value):
        return None if value is None else tuple(value)

    def moment(text):
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    publisher_tc = expected["publisher_tc"]
    return TCString(**{
        **{key: ids(value) if isinstance(value, list) else value
           for key, value in expected.items()},
        "created": moment(expected["created"]),
        "last_updated": moment(expected["last_updated"]),
        "publisher_restrictions": tuple(
            PublisherRestriction(entry["purpose_id"], entry["restriction_type"],
                                 tuple(entry["vendors"]))
            for entry in expected["publisher_restrictions"]),
        "publisher_tc": None if publisher_tc is None else PublisherTC(
            **{key: ids(value) if isinstance(value, list) else value
               for key, value in publisher_tc.items()}),
    })


def segments(name: str) -> list[str]:
    return CASES[name]["tc_string"].split(".")


def with_bits(segment: str, offset: int, bits: str) -> str:
    """The segment with the bits at offset replaced: for building malformed strings."""
    stream = "".join(format(BASE64URL.index(char), "06b") for char in segment)
    stream = stream[:offset] + bits + stream[offset + len(bits):]
    return "".join(BASE64URL[int(stream[i:i + 6], 2)] for i in range(0, len(stream), 6))


# Decoding, against IAB's library

def test_fixture_was_written_by_iab_library():
    assert FIXTURE["library"] == "@iabtcf/core 1.5.6"
    assert FIXTURE["generator"] == "tests/data/make_tcstrings.mjs"


def test_fixture_covers_every_shape():
    expected = [case["expected"] for case in CASES.values()]
    assert {case["vendors_consent_encoding"] for case in CASES.values()} == {"bitfield", "range"}
    assert any(e["disclosed_vendors"] is None for e in expected)
    assert any(e["disclosed_vendors"] for e in expected)
    assert any(e["allowed_vendors"] for e in expected)
    assert any(not e["purposes_consent"] and not e["vendors_consent"] for e in expected)
    assert any(len(e["purposes_consent"]) == 11 and e["special_features"] == [1, 2]
               for e in expected)
    assert any(e["vendors_li"] for e in expected)
    restrictions = [r for e in expected for r in e["publisher_restrictions"]]
    assert {r["restriction_type"] for r in restrictions} == {0, 1, 2}
    assert any(e["publisher_tc"] and e["publisher_tc"]["num_custom_purposes"] for e in expected)


@pytest.mark.parametrize("name", sorted(CASES))
def test_decode_agrees_with_iab_library(name):
    case = CASES[name]
    decoded = decode(case["tc_string"])
    assert decoded == expected_tc(case["expected"])
    assert decoded.created.utcoffset().total_seconds() == 0


def test_range_encoded_ids_with_a_gap():
    decoded = decode(CASES["range_many_vendors"]["tc_string"])
    assert decoded.vendors_consent == tuple(i for i in range(1, 1201) if i not in (401, 403))
    assert decoded.disclosed_vendors == tuple(range(1, 1201))


def test_restriction_range_may_span_ids_missing_from_the_gvl():
    """IAB encodes vendors 8, 20, 21 as the range 8-21 because 9-19 are not in its GVL."""
    restrictions = decode(CASES["publisher_restrictions"]["tc_string"]).publisher_restrictions
    assert PublisherRestriction(3, 0, tuple(range(8, 22))) in restrictions


def test_decisecond_timestamps():
    decoded = decode(CASES["no_disclosed_vendors"]["tc_string"])
    assert decoded.created == datetime(2026, 11, 20, 12, 34, 56, 700000, tzinfo=timezone.utc)
    assert decoded.last_updated == datetime(2026, 12, 1, 8, 0, 0, 100000, tzinfo=timezone.utc)


def test_segments_after_the_core_may_come_in_any_order():
    core, disclosed, publisher = segments("publisher_tc")
    assert decode(f"{core}.{publisher}.{disclosed}") == decode(f"{core}.{disclosed}.{publisher}")


def test_decoded_value_is_frozen():
    decoded = decode(CASES["empty_consent"]["tc_string"])
    with pytest.raises(AttributeError):
        decoded.cmp_id = 1  # type: ignore[misc]


# Malformed TC strings: each error names the segment and field

def malformed_cases():
    core, disclosed = segments("bitfield_few_vendors")
    range_core = segments("range_many_vendors")[0]
    restricted_core = segments("publisher_restrictions")[0]
    # range_many_vendors: VendorConsents' first range entry (1-400) starts at bit 242
    # (MaxVendorId 16, IsRangeEncoding 1, NumEntries 12): IsARange, Start(16), End(16).
    entry = CORE_HEADER_BITS + 16 + 1 + 12
    # publisher_restrictions: VendorConsents bitfield up to vendor 21, empty VendorLI,
    # NumPubRestrictions; then the first entry's PurposeId(6) and RestrictionType(2).
    restriction_type = CORE_HEADER_BITS + (17 + 21) + 17 + 12 + 6
    return [
        ("", "TC string is empty"),
        (f".{disclosed}", "core segment is empty"),
        (f"{core}.", "segment 2 is empty"),
        (f"{core}+.{disclosed}", "core segment: character '+' at position 48 is not base64url"),
        (f"{core}.{disclosed}=", "segment 2: character '=' at position 8 is not base64url"),
        (with_bits(core, 0, "000001"), "core segment: Version is 1, only TCF v2"),
        (with_bits(core, 0, "000011"), "core segment: Version is 3"),
        (core[:20], "core segment: VendorListVersion needs 12 bits at bit 120, only 0 left"),
        (core[:36],
         "core segment: VendorConsents.MaxVendorId needs 16 bits at bit 213, only 3 left"),
        (core[:39], "core segment: VendorConsents.BitField needs 8 bits at bit 230, only 4 left"),
        (range_core[:40],
         "core segment: VendorConsents.NumEntries needs 12 bits at bit 230, only 10 left"),
        (range_core[:44],
         "core segment: VendorConsents range entry 1.EndVendorId needs 16 bits at bit 259"),
        (with_bits(core, 108, "011110"),  # ConsentLanguage's first letter: 30
         "core segment: ConsentLanguage letter value 30 is not a-z"),
        (with_bits(range_core, entry + 1, format(0, "016b")),
         "core segment: VendorConsents range entry 1 starts at vendor id 0"),
        (with_bits(range_core, entry + 1, format(401, "016b")),
         "core segment: VendorConsents range entry 1 ends at 400, before its start 401"),
        (with_bits(range_core, entry + 17, format(1300, "016b")),
         "VendorConsents range entry 1 reaches vendor id 1300, "
         "beyond VendorConsents.MaxVendorId 1200"),
        (with_bits(restricted_core, restriction_type, "11"),
         "core segment: PubRestrictionEntry 1.RestrictionType 3 is undefined"),
        (f"{core}.IA",
         "segment 2 (DisclosedVendors): DisclosedVendors.MaxVendorId needs 16 bits at bit 3"),
        (f"{core}.{disclosed}.AAAA", "segment 3: unknown SegmentType 0"),
        (f"{core}.{disclosed}.gAAA", "segment 3: unknown SegmentType 4"),
        (f"{core}.{disclosed}.{disclosed}", "segment 3: duplicate DisclosedVendors segment"),
        (f"{core}.dgAAAAAA",
         "segment 2 (PublisherTC): PubPurposesLITransparency needs 24 bits at bit 27"),
    ]


@pytest.mark.parametrize("tc_string, message", malformed_cases())
def test_malformed_tc_string_names_the_field(tc_string, message):
    with pytest.raises(TCStringError) as raised:
        decode(tc_string)
    assert message in str(raised.value)
    assert isinstance(raised.value, ValueError)


# AC strings

@pytest.mark.parametrize("ac, parsed", [
    (GOOGLE_EXAMPLE_AC, ACString(2, (1, 35, 41, 101), (9, 21, 81))),
    ("2~~dv.", ACString(2, (), ())),
    ("2~7~dv.", ACString(2, (7,), ())),
    ("2~101.35.1~dv.81.9", ACString(2, (1, 35, 101), (9, 81))),
    ("1~1.35.41", ACString(1, (1, 35, 41), ())),
])
def test_parse_ac_string(ac, parsed):
    assert parse_ac_string(ac) == parsed


@pytest.mark.parametrize("ac, message", [
    ("", "AC string is empty"),
    ("2", "no '~' after the version"),
    ("3~1~dv.2", "version '3' is not 1 or 2"),
    ("2~1.35", "version 2 needs '2~<consented ids>~dv.<disclosed ids>'"),
    ("2~1.35~9.21", "version 2 needs"),
    ("2~1~dv.2~dv.3", "version 2 needs"),
    ("1~1~dv.2", "version 1 has only '1~<consented ids>'"),
    ("2~1.x~dv.", "consented id 'x' is not a positive decimal integer"),
    ("2~1..2~dv.", "consented id '' is not a positive decimal integer"),
    ("2~0~dv.", "consented id '0' is not a positive decimal integer"),
    ("2~1~dv.9.-2", "disclosed id '-2' is not a positive decimal integer"),
    ("2~1.1~dv.", "consented lists an id twice"),
])
def test_malformed_ac_string(ac, message):
    with pytest.raises(TCStringError, match="^AC string") as raised:
        parse_ac_string(ac)
    assert message in str(raised.value)


# Receipts

def receipt(name: str, tc_string: str | None = None, ac_string: str | None = GOOGLE_EXAMPLE_AC,
            disclosed_from: str | None = None) -> dict:
    """A receipt's tcf object as a correct writer fills it, from IAB's decoded fields."""
    expected = CASES[name]["expected"]
    disclosed = CASES[disclosed_from or name]["expected"]["disclosed_vendors"]
    ac = parse_ac_string(ac_string) if ac_string else ACString(2, (), ())
    return {
        "tc_string": tc_string or CASES[name]["tc_string"], "ac_string": ac_string,
        **{key: expected[key] for key in (
            "cmp_id", "cmp_version", "vendor_list_version", "policy_version", "purposes_consent",
            "purposes_li", "special_features", "vendors_consent", "vendors_li")},
        "vendors_disclosed": disclosed or [],
        "ac_consent": list(ac.consented), "ac_disclosed": list(ac.disclosed),
    }


def spliced(core_case: str, disclosed_case: str) -> str:
    """One case's core segment with another's DisclosedVendors segment, both IAB's."""
    return f"{segments(core_case)[0]}.{segments(disclosed_case)[1]}"


@pytest.mark.parametrize("name", sorted(set(CASES) - {"no_disclosed_vendors"}))
def test_correct_receipt_agrees(name):
    assert check_receipt_tcf(receipt(name)) is None


def test_receipt_without_ac_string_agrees():
    assert check_receipt_tcf(receipt("bitfield_few_vendors", ac_string=None)) is None


def test_ac_consented_ids_need_not_be_repeated_as_disclosed():
    """Google's specification: ids consented to are not listed again after "dv.", so the
    receipt's ac_consent and ac_disclosed are disjoint, as in Google's own example."""
    tcf = receipt("bitfield_few_vendors", ac_string=GOOGLE_EXAMPLE_AC)
    assert not set(tcf["ac_consent"]) & set(tcf["ac_disclosed"])
    assert check_receipt_tcf(tcf) is None


def changed(tcf: dict, **fields) -> dict:
    return {**tcf, **fields}


GOOD = receipt("bitfield_few_vendors")


@pytest.mark.parametrize("tcf, message", [
    (changed(GOOD, purposes_consent=[1, 2, 3, 4, 8]),
     "purposes_consent: receipt lists [8] not in the TC string; "
     "the TC string has [7] not in the receipt"),
    (changed(GOOD, purposes_li=[2, 7]), "purposes_li: the TC string has [8] not in the receipt"),
    (changed(GOOD, special_features=[1, 2]),
     "special_features: receipt lists [2] not in the TC string"),
    (changed(GOOD, cmp_id=301), "cmp_id: receipt says 301, the TC string says 300"),
    (changed(GOOD, cmp_version="7"), "cmp_version: receipt says '7', the TC string says 7"),
    (changed(GOOD, vendor_list_version=139),
     "vendor_list_version: receipt says 139, the TC string says 140"),
    (changed(GOOD, policy_version=4), "policy_version: receipt says 4, the TC string says 5"),
    (changed(GOOD, vendors_consent=[8, 6, 2]),
     "vendors_consent: receipt's ids are not sorted or repeat an id"),
    (changed(GOOD, vendors_li=["2", "10"]),
     "vendors_li: receipt has ['2', '10'], not a list of integer ids"),
    (changed(GOOD, vendors_disclosed=[2, 6, 8]),
     "vendors_disclosed: the TC string has [10,11] not in the receipt"),
    (receipt("no_disclosed_vendors"),
     "tc_string: no DisclosedVendors segment (mandatory since TCF v2.3)"),
    (receipt("publisher_restrictions", spliced("publisher_restrictions", "empty_consent"),
             disclosed_from="empty_consent"),
     "vendors_consent: [7,20,21] not among the DisclosedVendors"),
    (receipt("bitfield_few_vendors", spliced("bitfield_few_vendors", "empty_consent"),
             disclosed_from="empty_consent"),
     "vendors_li: [10] not among the DisclosedVendors"),
    (changed(GOOD, tc_string="CQt-4cAQt-4c"),
     "tc_string: core segment: LastUpdated needs 36 bits at bit 42, only 30 left "
     "(truncated string)"),
    (changed(GOOD, ac_consent=[1, 35, 41]),
     "ac_consent: the AC string has [101] not in the receipt"),
    (changed(GOOD, ac_disclosed=[9, 21, 81, 101]),
     "ac_disclosed: receipt lists [101] not in the AC string"),
    (changed(GOOD, ac_string="2~1.35.41.101"),
     "ac_string: AC string: version 2 needs '2~<consented ids>~dv.<disclosed ids>'"),
    (changed(GOOD, ac_string=None), "ac_consent: receipt lists [1,35,41,101] but has no ac_string"),
    (changed(GOOD, ac_string=None, ac_consent=[]),
     "ac_disclosed: receipt lists [9,21,81] but has no ac_string"),
    ({key: value for key, value in GOOD.items() if key not in ("cmp_id", "ac_string")},
     "tcf object lacks ac_string, cmp_id"),
])
def test_receipt_disagreement_is_named(tcf, message):
    assert check_receipt_tcf(tcf) == message


def test_long_id_lists_are_shortened_in_messages():
    tcf = changed(receipt("range_many_vendors"), vendors_consent=[])
    assert check_receipt_tcf(tcf) == (
        "vendors_consent: the TC string has [1,2,3,4,5,6,7,8,... 1198 ids] not in the receipt")


def test_module_needs_only_the_standard_library():
    """The offline verifier imports it: nothing from Flask, SQLAlchemy or any other package."""
    tree = ast.parse(Path(tcstring.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}
