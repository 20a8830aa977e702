// TC strings as IAB's own library (@iabtcf/core, installed with the banner's npm packages)
// encodes and decodes them: the ground truth the tests hold our banner and our Python
// decoder to. Reads one JSON request on stdin, writes one JSON answer on stdout:
//   {"encode": {gvl, cmp_id, cmp_version, publisher_cc, language, purposes_consent,
//               purposes_li, special_features, vendors_consent, vendors_li, disclosed}}
//     -> {"tc_string": "..."}  (disclosed: whether to add the DisclosedVendors segment)
//   {"decode": "TC string"} -> the fields the receipt's tcf object names
//   {"gpp_decode": "GPP string"} -> {section name: {field: value}} (@iabgpp/cmpapi's GppModel)
//   {"gpp_encode": {section name: {field: value}}} -> {"gpp_string": "..."}
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(new URL('../../static/banner/package.json', import.meta.url));
const { GVL, Segment, TCModel, TCString } = require('@iabtcf/core');
const { GppModel } = require('@iabgpp/cmpapi');

const request = JSON.parse(readFileSync(0, 'utf8'));
const ids = (vector) => {
  const out = [];
  vector.forEach((on, id) => on && out.push(id));
  return out;
};

if (request.gpp_encode) {
  const model = new GppModel();
  for (const [section, fields] of Object.entries(request.gpp_encode))
    for (const [field, value] of Object.entries(fields)) model.setFieldValue(section, field, value);
  console.log(JSON.stringify({ gpp_string: model.encode() }));
} else if (request.gpp_decode) {
  console.log(JSON.stringify(new GppModel(request.gpp_decode).toObject()));
} else if (request.encode) {
  const e = request.encode;
  const gvl = new GVL(e.gvl);
  const language = (e.language || 'en').toUpperCase();
  GVL.LANGUAGE_CACHE.set(language, { purposes: e.gvl.purposes, specialPurposes: e.gvl.specialPurposes, features: e.gvl.features, specialFeatures: e.gvl.specialFeatures, stacks: e.gvl.stacks });
  gvl.lang_ = language; // as the banner does: the texts are there, nothing is fetched
  const model = new TCModel(gvl);
  model.cmpId = e.cmp_id;
  model.cmpVersion = e.cmp_version;
  model.isServiceSpecific = true;
  model.publisherCountryCode = e.publisher_cc || 'DE';
  model.purposeConsents.set(e.purposes_consent || []);
  model.purposeLegitimateInterests.set(e.purposes_li || []);
  model.specialFeatureOptins.set(e.special_features || []);
  model.vendorConsents.set(e.vendors_consent || []);
  model.vendorLegitimateInterests.set(e.vendors_li || []);
  const segments = e.disclosed === false ? [Segment.CORE] : [Segment.CORE, Segment.VENDORS_DISCLOSED];
  console.log(JSON.stringify({ tc_string: TCString.encode(model, { segments }) }));
} else {
  const m = TCString.decode(request.decode);
  console.log(
    JSON.stringify({
      cmp_id: m.cmpId,
      cmp_version: m.cmpVersion,
      vendor_list_version: m.vendorListVersion,
      policy_version: m.policyVersion,
      is_service_specific: m.isServiceSpecific,
      consent_language: m.consentLanguage,
      publisher_cc: m.publisherCountryCode,
      purposes_consent: ids(m.purposeConsents),
      purposes_li: ids(m.purposeLegitimateInterests),
      special_features: ids(m.specialFeatureOptins),
      vendors_consent: ids(m.vendorConsents),
      vendors_li: ids(m.vendorLegitimateInterests),
      vendors_disclosed: ids(m.vendorsDisclosed),
    }),
  );
}
