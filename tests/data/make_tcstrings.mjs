// Generates tests/data/tcstrings.json: TC strings encoded, and then decoded again, by IAB's
// own JavaScript library @iabtcf/core 1.5.6, so that consent_logs/tcstring.py is checked
// against IAB's reading of the format rather than against an encoder we wrote ourselves.
//
// Rerun (needs Node 18+ and the npm registry, never needed by the tests themselves):
//
//   mkdir -p /tmp/tcgen && cd /tmp/tcgen && npm init -y && npm install @iabtcf/core@1.5.6
//   cd /tmp/tcgen && node /path/to/repo/tests/data/make_tcstrings.mjs > /path/to/repo/tests/data/tcstrings.json
//
// The library is resolved from the current directory's node_modules, so run it from the
// scratch directory. Output is deterministic: every date is fixed.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const LIBRARY_VERSION = '1.5.6';
const require = createRequire(join(process.cwd(), 'noop.js'));
const { GVL, TCModel, TCString, Segment, PurposeRestriction, Base64Url } = require('@iabtcf/core');
const installed = JSON.parse(readFileSync(
  join(process.cwd(), 'node_modules/@iabtcf/core/package.json'), 'utf8')).version;
if (installed !== LIBRARY_VERSION) {
  throw new Error(`expected @iabtcf/core ${LIBRARY_VERSION}, found ${installed}`);
}

const range = (first, last) => Array.from({ length: last - first + 1 }, (_, i) => first + i);
const named = (ids) => Object.fromEntries(ids.map((id) => [id, { id, name: `item ${id}`, description: '' }]));

// A vendor declaring consent purposes 1-4 and 7, legitimate interest for 2, 7, 8 (flexible
// for 2 and 7), special feature 1. Overrides per vendor below.
function vendor(id, overrides = {}) {
  return {
    id, name: `Vendor ${id}`, purposes: [1, 3, 4, 7], legIntPurposes: [2, 8], flexiblePurposes: [2, 7],
    specialPurposes: [1], features: [1], specialFeatures: [1], usesCookies: true,
    cookieRefresh: false, usesNonCookieAccess: false, cookieMaxAgeSeconds: 86400,
    policyUrl: 'https://example.test/privacy', ...overrides,
  };
}

// A small GVL in IAB's v3 format: the given vendor ids, 11 purposes, 2 special features.
function gvl(vendorIds, { vendorListVersion = 140, overrides = {} } = {}) {
  return new GVL({
    gvlSpecificationVersion: 3, vendorListVersion, tcfPolicyVersion: 5,
    lastUpdated: '2026-11-05T16:00:00Z',
    purposes: named(range(1, 11)), specialPurposes: named([1, 2, 3]),
    features: named([1, 2, 3]), specialFeatures: named([1, 2]),
    stacks: {}, dataCategories: named(range(1, 11)),
    vendors: Object.fromEntries(vendorIds.map((id) => [id, vendor(id, overrides[id])])),
  });
}

function model(list, fields) {
  const tc = new TCModel(list);
  tc.cmpId = 300;
  tc.cmpVersion = 7;
  tc.consentScreen = 2;
  tc.publisherCountryCode = 'DE';
  tc.isServiceSpecific = true;
  tc.policyVersion = 5;
  tc.vendorListVersion = list.vendorListVersion;
  tc.created = new Date(Date.UTC(2026, 10, 20));
  tc.lastUpdated = new Date(Date.UTC(2026, 10, 20));
  fields(tc);
  return tc;
}

const CORE_AND_DISCLOSED = [Segment.CORE, Segment.VENDORS_DISCLOSED];

const CASES = [
  ['bitfield_few_vendors', 'a few vendor ids: every vendor section bitfield-encoded',
    gvl([2, 6, 8, 10, 11]), CORE_AND_DISCLOSED, (tc) => {
      tc.purposeConsents.set([1, 2, 3, 4, 7]);
      tc.purposeLegitimateInterests.set([2, 7, 8]);
      tc.specialFeatureOptins.set(1);
      tc.vendorConsents.set([2, 6, 8]);
      tc.vendorLegitimateInterests.set([2, 10]);
    }],
  ['range_many_vendors', 'vendor ids 1-1200 with gaps: range-encoded, single and range entries',
    gvl(range(1, 1200)), CORE_AND_DISCLOSED, (tc) => {
      tc.purposeConsents.set([1, 3, 4]);
      tc.vendorConsents.set([...range(1, 400), 402, ...range(404, 1200)]);
      tc.vendorLegitimateInterests.set(range(100, 1200));
    }],
  ['empty_consent', 'the user refused everything: no purposes, vendors or special features',
    gvl([2, 6, 8]), CORE_AND_DISCLOSED, () => {}],
  ['all_purposes', 'every purpose, both special features, purpose one treatment, non-standard texts',
    gvl([1, 2, 3, 5, 8], { vendorListVersion: 141 }), CORE_AND_DISCLOSED, (tc) => {
      tc.consentScreen = 63;
      tc.purposeConsents.set(range(1, 11));
      tc.purposeLegitimateInterests.set([2, 7, 8, 9, 10, 11]);
      tc.specialFeatureOptins.set([1, 2]);
      tc.purposeOneTreatment = true;
      tc.useNonStandardStacks = true;
      tc.vendorConsents.set([1, 2, 3, 5, 8]);
      tc.vendorLegitimateInterests.set([1, 2, 3, 5, 8]);
    }],
  ['publisher_restrictions', 'publisher restrictions of all three types, one spanning a GVL gap',
    gvl([2, 6, 7, 8, 20, 21]), CORE_AND_DISCLOSED, (tc) => {
      tc.purposeConsents.set([1, 2, 3, 4, 7]);
      tc.vendorConsents.set([2, 6, 7, 8, 20, 21]);
      tc.publisherRestrictions.add(2, new PurposeRestriction(1, 0));
      tc.publisherRestrictions.add(8, new PurposeRestriction(3, 0));
      tc.publisherRestrictions.add(20, new PurposeRestriction(3, 0));
      tc.publisherRestrictions.add(21, new PurposeRestriction(3, 0));
      tc.publisherRestrictions.add(6, new PurposeRestriction(2, 1));
      tc.publisherRestrictions.add(7, new PurposeRestriction(7, 2));
    }],
  ['publisher_tc', 'a PublisherTC segment with three custom purposes',
    gvl([2, 6]), [Segment.CORE, Segment.VENDORS_DISCLOSED, Segment.PUBLISHER_TC], (tc) => {
      tc.purposeConsents.set([1, 2]);
      tc.vendorConsents.set([2]);
      tc.publisherConsents.set([1, 3, 4]);
      tc.publisherLegitimateInterests.set([2, 7]);
      tc.numCustomPurposes = 3;
      tc.publisherCustomConsents.set([1, 3]);
      tc.publisherCustomLegitimateInterests.set([2]);
    }],
  ['allowed_vendors', 'the legacy AllowedVendors segment (out-of-band, deprecated in 2021) after DisclosedVendors',
    gvl([2, 6, 8]), [Segment.CORE, Segment.VENDORS_DISCLOSED, Segment.VENDORS_ALLOWED], (tc) => {
      tc.purposeConsents.set([1]);
      tc.vendorConsents.set([6]);
      tc.vendorsAllowed.set([2, 8]);
    }],
  ['no_disclosed_vendors', 'core segment only, as written before TCF v2.3 made DisclosedVendors mandatory',
    gvl([2, 6, 8]), [Segment.CORE], (tc) => {
      tc.purposeConsents.set([1, 2]);
      tc.vendorConsents.set([2, 8]);
      tc.created = new Date(Date.UTC(2026, 10, 20, 12, 34, 56, 700));
      tc.lastUpdated = new Date(Date.UTC(2026, 11, 1, 8, 0, 0, 100));
    }],
];

const ids = (vector) => {
  const out = [];
  vector.forEach((value, id) => { if (value) out.push(id); });
  return out;
};

// The bit after the vendor consent section's 16-bit MaxVendorId says how IAB chose to
// encode the section; the tests check that the fixture covers both encodings.
const CORE_HEADER_BITS = 213;
const consentEncoding = (coreSegment) =>
  Base64Url.decode(coreSegment)[CORE_HEADER_BITS + 16] === '1' ? 'range' : 'bitfield';

// Every field as IAB's decoder reads the string back, named as consent_logs.tcstring names it.
function decoded(tcString, segments) {
  const tc = TCString.decode(tcString);
  const has = (segment) => segments.includes(segment);
  return {
    version: tc.version,
    created: tc.created.toISOString(),
    last_updated: tc.lastUpdated.toISOString(),
    cmp_id: tc.cmpId,
    cmp_version: tc.cmpVersion,
    consent_screen: tc.consentScreen,
    consent_language: tc.consentLanguage,
    vendor_list_version: tc.vendorListVersion,
    policy_version: tc.policyVersion,
    is_service_specific: tc.isServiceSpecific,
    use_non_standard_texts: tc.useNonStandardStacks,
    special_features: ids(tc.specialFeatureOptins),
    purposes_consent: ids(tc.purposeConsents),
    purposes_li: ids(tc.purposeLegitimateInterests),
    purpose_one_treatment: tc.purposeOneTreatment,
    publisher_cc: tc.publisherCountryCode,
    vendors_consent: ids(tc.vendorConsents),
    vendors_li: ids(tc.vendorLegitimateInterests),
    publisher_restrictions: tc.publisherRestrictions.getRestrictions().map((pr) => ({
      purpose_id: pr.purposeId, restriction_type: pr.restrictionType,
      vendors: tc.publisherRestrictions.getVendors(pr),
    })).sort((a, b) => a.purpose_id - b.purpose_id || a.restriction_type - b.restriction_type),
    disclosed_vendors: has(Segment.VENDORS_DISCLOSED) ? ids(tc.vendorsDisclosed) : null,
    allowed_vendors: has(Segment.VENDORS_ALLOWED) ? ids(tc.vendorsAllowed) : null,
    publisher_tc: has(Segment.PUBLISHER_TC) ? {
      purposes_consent: ids(tc.publisherConsents),
      purposes_li: ids(tc.publisherLegitimateInterests),
      num_custom_purposes: tc.numCustomPurposes,
      custom_purposes_consent: ids(tc.publisherCustomConsents),
      custom_purposes_li: ids(tc.publisherCustomLegitimateInterests),
    } : null,
  };
}

const cases = CASES.map(([name, description, list, segments, fields]) => {
  const tcString = TCString.encode(model(list, fields), { segments });
  return {
    name, description, segments, tc_string: tcString,
    vendors_consent_encoding: consentEncoding(tcString.split('.')[0]),
    expected: decoded(tcString, segments),
  };
});

// Indented JSON, except that lists of ids stay on one line each.
const json = JSON.stringify({
  generator: 'tests/data/make_tcstrings.mjs',
  library: `@iabtcf/core ${LIBRARY_VERSION}`,
  cases,
}, null, 1).replace(/\[[\d,\s]+\]/g, (list) => JSON.stringify(JSON.parse(list)));
process.stdout.write(json + '\n');
