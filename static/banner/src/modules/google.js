// Google Consent Mode v2 for a site with Google vendors (the core set the defaults,
// consent-mode.js): the site's region defaults, ads data redaction and URL passthrough,
// and an update on every choice (cmp_server/sites/google_consent_mode.py says what).
import { gtag } from '../consent-mode.js';

const core = window.cmp._core;
const state = core._shared;
const config = state._config;
const site = config.google_consent_mode;

// each signal and the purpose that grants it
const SIGNALS = 'ad_storage ad_user_data ad_personalization analytics_storage functionality_storage personalization_storage'.split(' ');
const SIGNAL_PURPOSES = ['marketing', 'marketing', 'marketing', 'analytics', 'preferences', 'preferences'];

const signals = (isGranted) =>
  Object.fromEntries(SIGNALS.map((k, i) => [k, isGranted(SIGNAL_PURPOSES[i]) ? 'granted' : 'denied']));

// granted by default in the regions the site asks nobody first
const commands = [
  ...(site.granted_regions.length
    ? [['consent', 'default', { ...signals(() => 1), security_storage: 'granted', wait_for_update: 500, region: site.granted_regions }]]
    : []),
  ...(site.ads_data_redaction ? [['set', 'ads_data_redaction', true]] : []),
  ...(site.url_passthrough ? [['set', 'url_passthrough', true]] : []),
];
// a region default granted something on this page view
const grantsRegions = (list) => list.some((command) => command[2].region);
let regionGranted = grantsRegions(state._gcmRemembered || []);

// The site's commands now, unless the page view began with them already (the core
// replayed what the previous one kept); kept for the next one when there are any.
if (!state._preview) {
  const value = JSON.stringify([state._siteKey, commands]);
  let stored;
  try {
    stored = localStorage.getItem('cmp_gcm');
    if (stored != value) commands.length ? localStorage.setItem('cmp_gcm', value) : localStorage.removeItem('cmp_gcm');
  } catch (e) {} // no storage: the commands come with each configuration
  if (stored != value || !state._gcmRemembered) {
    for (const command of commands) gtag(...command);
    regionGranted = regionGranted || grantsRegions(commands);
  }
}

// A signal is granted when its purpose is, and so is every vendor of that purpose whose
// tags read Consent Mode (refusing Google Analytics keeps analytics_storage denied even
// with another analytics vendor allowed).
function update(grantedPurposes, grantedVendors) {
  const readers = config.vendors.filter((v) => site.vendors.includes(v.id));
  gtag('consent', 'update', signals((p) => grantedPurposes[p] && readers.every((v) => !v.purposes.includes(p) || grantedVendors[v.id])));
  (window.dataLayer = window.dataLayer || []).push({ event: 'cmp_consent_update' });
}

core._modules.google = {
  _grants: update,
  // An advanced site's Google scripts load at once, every signal denied (scripts only:
  // pixels and frames do not read Consent Mode; and only when every vendor the element
  // names reads it).
  _loadsDenied: (el, ids) => site.mode == 'advanced' && el.tagName == 'SCRIPT' && ids.split(/\s+/).every((id) => site.vendors.includes(id)),
  // An opt-in visitor with no choice yet: if a region default granted anything (Google
  // may place the visitor elsewhere, or the page view began with an older setting), deny it.
  _asking: () => regionGranted && update({}, {}),
};
