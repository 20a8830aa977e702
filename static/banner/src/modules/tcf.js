// IAB TCF v2.3 for a site that enables it (cmp_server/sites/tcf.py): the first layer names
// the purposes, special features and number of partners; the settings layer lists every
// purpose (consent, and legitimate interest with the right to object), special purpose,
// feature and special feature, and each partner with what it does, how long it keeps
// data and which data; each choice becomes a TC string, with the disclosed-vendors
// segment, encoded by IAB's own library, sent with the choice (the receipt keeps it) and
// answered by __tcfapi (IAB's CMP API) to the page and, through the locator frame, to
// its iframes. Google's Additional Consent string covers the site's Google ad technology
// providers outside the GVL. TCF applies where the visitor is asked first (opt-in);
// elsewhere __tcfapi answers gdprApplies false.
/* global __CMP_MODULE_CSS__ */
import { GVL, Segment, TCModel, TCString } from '@iabtcf/core';
import { CmpApi } from '@iabtcf/cmpapi';
import { escapeHtml, safeUrl } from '../html.js';
import { installTcfStub } from '../stubs.js';

const core = window.cmp._core;
const state = core._shared;
const config = state._config;
const tcf = config.tcf;
const text = tcf.strings;
// localStorage: {site: {tc, ac, r}}, the strings of this browser's last choice and, once
// the server has acknowledged it, its receipt id (the token stays small: a TC string of
// hundreds of partners would push the cookie past what browsers keep)
const STORED = 'cmp_tcf';

installTcfStub();
const gvl = new GVL(tcf.gvl);
// The consent language the string records. IAB's library copies the GVL for each string
// and fetches the language's texts for the copy unless they are in its cache: they are
// (the server sent them), so nothing is fetched.
const language = tcf.language.toUpperCase();
GVL.LANGUAGE_CACHE.set(language, { purposes: tcf.gvl.purposes, specialPurposes: tcf.gvl.specialPurposes, features: tcf.gvl.features, specialFeatures: tcf.gvl.specialFeatures, stacks: tcf.gvl.stacks });
gvl.lang_ = language;
const vendors = Object.values(gvl.vendors);
const lists = tcf.gvl; // the GVL's texts as IAB writes them (data categories too)
const atps = tcf.google_atps;
// what the site's partners declare, and so what the layers offer (the server checks each
// string against the same: cmp_server/consent/tcf_choice.py, offered)
const used = (...fields) => [...new Set(vendors.flatMap((v) => fields.flatMap((f) => v[f] || [])))].sort((a, b) => a - b);
const consentPurposeIds = used('purposes', 'flexiblePurposes');
const liPurposeIds = used('legIntPurposes', 'flexiblePurposes').filter((id) => ![1, 3, 4, 5, 6].includes(id)); // TCF policy
const purposeIds = used('purposes', 'flexiblePurposes', 'legIntPurposes');
const specialFeatureIds = used('specialFeatures');
// partners with special purposes only: their legitimate interest cannot be objected to
const unobjectable = vendors.filter((v) => !v.purposes.length && !v.legIntPurposes.length && v.specialPurposes.length).map((v) => v.id);

const cmpApi = new CmpApi(tcf.cmp_id, tcf.cmp_version, true, {
  // Google's Additional Consent string, beside the TC string (Google's CMP API extension)
  getTCData: (next, tcData, success) => {
    if (tcData && typeof tcData == 'object') {
      tcData.addtlConsent = current.ac;
      tcData.enableAdvertiserConsentMode = false;
    }
    next(tcData, success);
  },
});
let current = { tc: '', ac: '' }; // the strings __tcfapi answers
let settingsDialog = null; // the banner's dialog, once the settings layer has shown
// the TCF part of the settings layer, while it shows
const settingsShown = () => settingsDialog && settingsDialog.querySelector('[data-cmp-tcf]');

function encode(action) {
  const model = new TCModel(gvl);
  model.cmpId = tcf.cmp_id;
  model.cmpVersion = tcf.cmp_version;
  model.isServiceSpecific = true;
  model.publisherCountryCode = tcf.publisher_cc;
  model.consentScreen = settingsShown() ? 2 : 1;
  const chosen = (kind, key) => {
    if (action == 'accept_all') return kind == 'li' ? liIds(key) : consentIds(key);
    if (action != 'custom' || !settingsShown()) return [];
    return [...settingsShown().querySelectorAll(`[data-cmp-tcf-${kind}^="${key}:"]:checked`)].map((el) => +el.getAttribute(`data-cmp-tcf-${kind}`).split(':')[1]);
  };
  model.purposeConsents.set(chosen('consent', 'p'));
  model.purposeLegitimateInterests.set(chosen('li', 'p'));
  model.specialFeatureOptins.set(chosen('consent', 'sf'));
  model.vendorConsents.set(chosen('consent', 'v'));
  model.vendorLegitimateInterests.set([...chosen('li', 'v'), ...unobjectable]);
  const consented = chosen('consent', 'a');
  return {
    tc: TCString.encode(model, { segments: [Segment.CORE, Segment.VENDORS_DISCLOSED] }),
    // version 2: consented ids, then after "dv." those disclosed without consent
    ac: atps.length ? `2~${consented.join('.')}~dv.${atps.map((a) => a.id).filter((id) => !consented.includes(id)).join('.')}` : null,
  };
}

// what Accept all grants: every switch the settings layer would show
const consentIds = (key) =>
  ({ p: consentPurposeIds, sf: specialFeatureIds, v: vendors.filter((v) => v.purposes.length || v.flexiblePurposes.length).map((v) => v.id), a: atps.map((a) => a.id) })[key];
const liIds = (key) => ({ p: liPurposeIds, v: vendors.filter((v) => v.legIntPurposes.length).map((v) => v.id) })[key];

const remembered = (value) => {
  let all = {};
  try {
    all = JSON.parse(localStorage.getItem(STORED)) || {};
  } catch (e) {}
  if (value === undefined) return all[state._siteKey];
  all[state._siteKey] = value;
  try {
    localStorage.setItem(STORED, JSON.stringify(all));
  } catch (e) {}
};

// The strings of the choice in force: those this browser kept when it made that choice;
// for a choice made elsewhere (the visitor's own page, the API), which signals nothing to
// TCF's vendors, a string that grants nothing.
function storedStrings() {
  const choice = state._choice;
  const kept = remembered();
  if (!choice) return null;
  if (kept && (!choice._receiptId || kept.r == choice._receiptId)) return kept;
  return encode('reject_all');
}

// once the server has acknowledged this browser's choice, its strings belong to that receipt
document.addEventListener('cmp:consent', (e) => {
  const kept = remembered();
  if (kept && !kept.r && e.detail.receipt_id) remembered({ ...kept, r: e.detail.receipt_id });
});

const signal = (strings, uiVisible) => {
  current = strings;
  cmpApi.update(strings.tc, uiVisible);
};

// The core calls this whenever a choice applies; BODY is the choice being recorded.
function grants(purposes, granted, body) {
  if (!tcf.applies || state._preview) return; // the console's preview signals nothing
  if (body) {
    const strings = body.action == 'gpc' ? { tc: '', ac: null } : encode(body.action);
    if (strings.tc) body.tcf = { tc_string: strings.tc, ac_string: strings.ac };
    remembered({ ...strings, r: null });
    return signal(strings, false);
  }
  const stored = storedStrings();
  if (stored) signal(stored, askedAgain());
}

// a choice this version asks about again (a partner added): the banner shows, and until
// the visitor answers __tcfapi says so (cmpuishown) with the string in force
const askedAgain = () => !!state._choice && !config.consent_scope.every((x) => state._choice._scope.includes(x));

// ---- the layers ----

const name = (collection, id) => escapeHtml((lists[collection][id] || {}).name);
const list = (collection, ids) => ids.map((id) => name(collection, id)).join(', ');
const days = (seconds) => (seconds < 86400 ? (seconds / 86400).toFixed(1) : Math.round(seconds / 86400));
const tcfSwitch = (kind, key, id, on, label) =>
  `<input type="checkbox" role="switch" data-cmp-tcf-${kind}="${key}:${id}" aria-label="${escapeHtml(label)}"${on ? ' checked' : ''}>`;

// The first layer: who (how many partners), what (stacks where they fit, else purposes;
// special features), and that legitimate interest can be objected to in the settings.
function firstLayerText() {
  const purposes = new Set(purposeIds);
  const features = new Set(specialFeatureIds);
  const lines = [];
  const size = (stack) => stack.purposes.length + stack.specialFeatures.length;
  const stacks = Object.values(lists.stacks || {}).filter((x) => Array.isArray(x.purposes) && Array.isArray(x.specialFeatures));
  for (const stack of stacks.sort((a, b) => size(b) - size(a))) {
    if (!stack.purposes.length || !stack.purposes.every((id) => purposes.has(id)) || !stack.specialFeatures.every((id) => features.has(id))) continue;
    lines.push(stack.name);
    stack.purposes.forEach((id) => purposes.delete(id));
    stack.specialFeatures.forEach((id) => features.delete(id));
  }
  for (const id of purposes) lines.push(lists.purposes[id].name);
  for (const id of features) lines.push(lists.specialFeatures[id].name);
  return `${text.intro.replace('{n}', vendors.length + atps.length)}\n• ${lines.join('\n• ')}\n${text.object}`;
}

const describe = (item) =>
  `<p>${escapeHtml(item.description)}</p>` +
  (Array.isArray(item.illustrations) && item.illustrations.length ? `<ul>${item.illustrations.map((x) => `<li>${escapeHtml(x)}</li>`).join('')}</ul>` : '');

const infoRow = (collection, id) => `<div class="row v"><details><summary>${name(collection, id)}</summary>${describe(lists[collection][id])}</details></div>`;

// The choice the settings layer shows, decoded once as it renders (settingsPart)
let shown = null;
const on = (kind, key, id) => {
  const { strings, model } = shown;
  if (!model) return kind == 'li'; // not chosen yet: consent off, legitimate interest on
  const vector = { consent: { p: model.purposeConsents, sf: model.specialFeatureOptins, v: model.vendorConsents }, li: { p: model.purposeLegitimateInterests, v: model.vendorLegitimateInterests } }[kind][key];
  return key == 'a' ? ((strings.ac || '').split('~')[1] || '').split('.').includes(String(id)) : vector.has(id);
};

// a partner's standard retention, and each purpose's or special purpose's that differs
function retentionText(retention) {
  const inDays = (n) => `${escapeHtml(n)} ${escapeHtml(config.strings.days)}`;
  const overrides = (collection, by) => Object.entries(by || {}).map(([id, n]) => `${name(collection, id)}: ${inDays(n)}`);
  const parts = [
    ...(retention.stdRetention != null ? [inDays(retention.stdRetention)] : []),
    ...overrides('purposes', retention.purposes),
    ...overrides('specialPurposes', retention.specialPurposes),
  ];
  return parts.join('; ');
}

function vendorRow(v) {
  const retention = v.dataRetention || {};
  const policy = (v.urls || []).find((u) => u.langId == tcf.language) || (v.urls || [])[0] || {};
  const facts = [
    [text.consent_purposes, list('purposes', v.purposes)],
    [text.li_purposes, list('purposes', v.legIntPurposes)],
    [text.special_purposes, list('specialPurposes', v.specialPurposes)],
    [text.features, list('features', v.features)],
    [text.special_features, list('specialFeatures', v.specialFeatures)],
    [text.retention, retentionText(retention)],
    [text.data, list('dataCategories', v.dataDeclaration || [])],
    [text.storage, v.usesCookies ? `${days(v.cookieMaxAgeSeconds || 0)} ${escapeHtml(config.strings.days)}${v.usesNonCookieAccess ? '; ' + escapeHtml(text.other_storage) : ''}` : escapeHtml(text.no_cookies)],
  ].filter(([, value]) => value);
  return (
    `<div class="row v"><details><summary>${escapeHtml(v.name)}</summary><dl>` +
    facts.map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${value}</dd>`).join('') +
    `</dl><a href="${safeUrl(policy.privacy)}" target="_blank" rel="noopener">${escapeHtml(config.strings.policy)}</a>` +
    (policy.legIntClaim && v.legIntPurposes.length ? ` · <a href="${safeUrl(policy.legIntClaim)}" target="_blank" rel="noopener">${escapeHtml(text.li)}</a>` : '') +
    '</details><div class="sw">' +
    (consentIds('v').includes(v.id) ? `<label>${escapeHtml(text.consent)} ${tcfSwitch('consent', 'v', v.id, on('consent', 'v', v.id), `${v.name}: ${text.consent}`)}</label>` : '') +
    (liIds('v').includes(v.id) ? `<label>${escapeHtml(text.li)} ${tcfSwitch('li', 'v', v.id, on('li', 'v', v.id), `${v.name}: ${text.li}`)}</label>` : '') +
    '</div></div>'
  );
}

// how many partners ask consent for a purpose, and how many rely on legitimate interest
function partnersFor(id) {
  const count = (...fields) => vendors.filter((v) => fields.some((f) => (v[f] || []).includes(id))).length;
  const li = liPurposeIds.includes(id) ? count('legIntPurposes', 'flexiblePurposes') : 0;
  return `<p><small>${escapeHtml(text.vendors)}: ${escapeHtml(text.consent)} ${count('purposes', 'flexiblePurposes')}` +
    (li ? ` · ${escapeHtml(text.li)} ${li}` : '') + '</small></p>';
}

function settingsPart() {
  const strings = storedStrings() || current;
  shown = { strings, model: strings.tc ? TCString.decode(strings.tc) : null };
  const heading = (label, n) => `<h4>${escapeHtml(label)}${n == null ? '' : ` (${n})`}</h4>`;
  return (
    `<section class="tcf" data-cmp-tcf><h3>${escapeHtml(text.heading)}</h3><p>${escapeHtml(text.explain)}</p>` +
    heading(text.purposes) +
    purposeIds
      .map(
        (id) =>
          `<div class="row v"><details><summary>${name('purposes', id)}</summary>${describe(lists.purposes[id])}${partnersFor(id)}</details><div class="sw">` +
          (consentPurposeIds.includes(id) ? `<label>${escapeHtml(text.consent)} ${tcfSwitch('consent', 'p', id, on('consent', 'p', id), `${lists.purposes[id].name}: ${text.consent}`)}</label>` : '') +
          (liPurposeIds.includes(id) ? `<label>${escapeHtml(text.li)} ${tcfSwitch('li', 'p', id, on('li', 'p', id), `${lists.purposes[id].name}: ${text.li}`)}</label>` : '') +
          '</div></div>',
      )
      .join('') +
    (specialFeatureIds.length
      ? heading(text.special_features) +
        specialFeatureIds
          .map((id) => `<div class="row v"><details><summary>${name('specialFeatures', id)}</summary>${describe(lists.specialFeatures[id])}</details>${tcfSwitch('consent', 'sf', id, on('consent', 'sf', id), lists.specialFeatures[id].name)}</div>`)
          .join('')
      : '') +
    (used('specialPurposes').length ? heading(text.special_purposes) + `<p>${escapeHtml(text.no_choice)}</p>` + used('specialPurposes').map((id) => infoRow('specialPurposes', id)).join('') : '') +
    (used('features').length ? heading(text.features) + used('features').map((id) => infoRow('features', id)).join('') : '') +
    heading(text.vendors, vendors.length) +
    vendors.map(vendorRow).join('') +
    (atps.length
      ? heading(text.google, atps.length) +
        atps
          .map(
            (a) =>
              `<div class="row v"><span>${escapeHtml(a.name)} · <a href="${safeUrl(a.policy_url)}" target="_blank" rel="noopener">${escapeHtml(config.strings.policy)}</a></span>` +
              tcfSwitch('consent', 'a', a.id, on('consent', 'a', a.id), a.name) + '</div>',
          )
          .join('')
      : '') +
    '</section>'
  );
}

if (tcf.applies) config.strings.intro = firstLayerText();
else signal({ tc: null, ac: null }, false); // GDPR does not apply: __tcfapi says so
core._addStyles(__CMP_MODULE_CSS__);
core._modules.tcf = {
  _grants: grants,
  // the settings module puts this part before its buttons, and forgets it when it closes
  _settingsPart: (dialog) => {
    if (!tcf.applies) return;
    settingsDialog = dialog;
    dialog.querySelector('.list').insertAdjacentHTML('beforeend', settingsPart());
  },
};
// a choice in force that the core applied before this module ran; else the banner asks
if (tcf.applies) state._choice ? grants() : signal({ tc: '', ac: null }, true);
