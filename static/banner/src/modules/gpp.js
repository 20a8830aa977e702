// IAB's Global Privacy Platform (GPP 1.1) for a site whose region rules name US regions,
// or that signals IAB TCF:
// __gpp (IAB's @iabgpp/cmpapi) answers the page and, through the __gppLocator frame, its
// iframes. A visitor in the US gets the national section (usnat) and, in a state with its
// own law and section (California, Virginia, Colorado, Utah, Connecticut), that state's;
// the first layer's refusal reads "Do not sell or share my personal information", any
// element of the page marked data-cmp-do-not-sell becomes that link, and an opt-out (the
// link, Reject all, or the browser's Global Privacy Control, which the core records as
// such) sets SaleOptOut, SharingOptOut and TargetedAdvertisingOptOut. Tags marked
// data-cmp-purpose="sale" or "sharing" run only while the visitor has not opted out (where
// they are asked first, only with marketing consent). For a TCF site, a visitor where TCF
// applies gets the TCF EU section, the TC string the TCF module signals.
import { CmpApi } from '@iabgpp/cmpapi';
import { installGppStub, installTcfStub } from '../stubs.js';

const core = window.cmp._core;
const state = core._shared;
const config = state._config;
const gpp = config.gpp;
const text = config.strings;
const SECTION_IDS = { tcfeuv2: 2, usnat: 7, usca: 8, usva: 9, usco: 10, usut: 11, usct: 12 };

installGppStub();
const cmpApi = new CmpApi(gpp.cmp_id, gpp.cmp_version);
cmpApi.setSupportedAPIs(['2:tcfeuv2', '7:usnat', '8:usca', '9:usva', '10:usco', '11:usut', '12:usct']);
const usSections = gpp.section ? ['usnat', ...(gpp.section == 'usnat' ? [] : [gpp.section])] : [];

// Each section's fields for a visitor who has (1) or has not (2) opted out; the notices
// were given (1). A field a section lacks is left out.
function usFields(optedOut) {
  const choice = optedOut ? 1 : 2;
  return {
    SharingNotice: 1,
    SaleOptOutNotice: 1,
    SharingOptOutNotice: 1,
    TargetedAdvertisingOptOutNotice: 1,
    SaleOptOut: choice,
    SharingOptOut: choice,
    TargetedAdvertisingOptOut: choice,
    MspaCoveredTransaction: 2,
    Gpc: state._gpc,
  };
}

function encodeUs(optedOut) {
  for (const section of usSections)
    for (const [field, value] of Object.entries(usFields(optedOut)))
      try {
        cmpApi.setFieldValue(section, field, value);
      } catch (e) {} // not a field of this section
  return cmpApi.getGppString();
}

function signal(sections) {
  cmpApi.setApplicableSections(sections.length ? sections.map((s) => SECTION_IDS[s]) : [-1]);
  for (const section of sections) cmpApi.fireSectionChange(section);
  cmpApi.setSignalStatus('ready');
}

// The TCF EU section follows the TC string the TCF module signals, once it is known.
function followTcf() {
  installTcfStub(); // queues the call until the TCF module's API takes over
  window.__tcfapi('addEventListener', 2, (tcData, success) => {
    if (!success || !tcData.gdprApplies || !tcData.tcString) return;
    cmpApi.setSectionString('tcfeuv2', tcData.tcString);
    signal(['tcfeuv2']);
  });
}

// The core calls this whenever a choice applies; BODY is the choice being recorded.
function grants(purposes, vendors, body) {
  // what a visitor in an opt-out region has not objected to, or one asked first allowed
  purposes.sale = purposes.sharing = !!purposes.marketing;
  if (!usSections.length || state._preview) return;
  const out = !purposes.marketing; // sale and sharing go with marketing
  const string = encodeUs(out);
  if (body) body.gpp = { gpp_string: string, sections: usSections };
  signal([gpp.section]);
  markLinks(out);
}

// The site's "Do not sell or share my personal information" links (data-cmp-do-not-sell)
function markLinks(out) {
  for (const link of document.querySelectorAll('[data-cmp-do-not-sell]')) {
    if (!link.textContent.trim()) link.textContent = text.dns;
    link.hidden = false;
    link.setAttribute('aria-pressed', out ? 'true' : 'false');
    link.onclick = (e) => {
      e.preventDefault();
      window.cmp.rejectAll();
    };
  }
}

if (usSections.length) {
  text.reject = text.dns; // the first layer's refusal is the opt-out
  text.intro += ' ' + text.dns_notice;
  // the page's links work before any choice: until one, the visitor has not opted out
  document.readyState == 'loading' ? addEventListener('DOMContentLoaded', () => markLinks(false)) : markLinks(false);
} else if (gpp.tcf) followTcf();
else signal([]); // no section applies to this visitor
core._modules.gpp = { _grants: grants };
