// Google Consent Mode v2 through the dataLayer, so it works whether or not gtag.js or
// Tag Manager has loaded yet (they read the queued commands when they do).
const pushToDataLayer = (x) => (window.dataLayer = window.dataLayer || []).push(x);
// gtag() must queue an arguments object, not an array
function gtag() {
  pushToDataLayer(arguments);
}

// each signal and the purpose that grants it
const SIGNALS = 'ad_storage ad_user_data ad_personalization analytics_storage functionality_storage personalization_storage'.split(' ');
const SIGNAL_PURPOSES = ['marketing', 'marketing', 'marketing', 'analytics', 'preferences', 'preferences'];

const signals = (isGranted) =>
  Object.fromEntries(SIGNALS.map((k, i) => [k, isGranted(SIGNAL_PURPOSES[i]) ? 'granted' : 'denied']));

// Before any Google tag: every signal denied but security storage.
export const consentModeDefault = () =>
  gtag('consent', 'default', { ...signals(() => 0), security_storage: 'granted', wait_for_update: 500 });

// The site's Google Consent Mode (cmp_server/sites/google_consent_mode.py): granted by
// default in the regions it asks nobody first, ads data redaction, URL passthrough.
let regionGranted = false; // a region default granted something on this page view

function siteDefaults(site) {
  if (site.granted_regions.length && (regionGranted = true))
    gtag('consent', 'default', { ...signals(() => 1), security_storage: 'granted', wait_for_update: 500, region: site.granted_regions });
  if (site.ads_data_redaction) gtag('set', 'ads_data_redaction', true);
  if (site.url_passthrough) gtag('set', 'url_passthrough', true);
}

// A visitor with no stored choice and no GPC signal: the site's defaults as the previous
// page view learnt them, before its configuration arrives (in localStorage cmp_gcm).
export function consentModeRemembered(siteKey) {
  try {
    const [key, site] = JSON.parse(localStorage.getItem('cmp_gcm'));
    if (key == siteKey) siteDefaults(site);
  } catch (e) {} // none yet
}

// The configuration has arrived: the site's defaults now, unless the page view began with
// them already; kept for the next one when there is anything to keep.
export function consentModeSite(siteKey, g) {
  const site = { granted_regions: g.granted_regions, ads_data_redaction: g.ads_data_redaction, url_passthrough: g.url_passthrough };
  const value = JSON.stringify([siteKey, site]);
  try {
    const stored = localStorage.getItem('cmp_gcm');
    if (stored == value) return;
    if (site.granted_regions.length || site.ads_data_redaction || site.url_passthrough) localStorage.setItem('cmp_gcm', value);
    else if (stored) localStorage.removeItem('cmp_gcm');
  } catch (e) {} // no storage: the defaults come with each configuration
  siteDefaults(site);
}

// A signal is granted when its purpose is, and so is every vendor of that purpose whose
// tags read Consent Mode (refusing Google Analytics keeps analytics_storage denied even
// with another analytics vendor allowed).
export function consentModeUpdate(grantedPurposes, grantedVendors, config) {
  const readers = config ? config.vendors.filter((v) => config.google_consent_mode.vendors.includes(v.id)) : [];
  gtag('consent', 'update', signals((p) => grantedPurposes[p] && readers.every((v) => !v.purposes.includes(p) || grantedVendors[v.id])));
  pushToDataLayer({ event: 'cmp_consent_update' });
}

// An opt-in visitor with no choice yet: if a region default granted anything (Google may
// place the visitor elsewhere, or the page view began with an older setting), deny it.
export function consentModeAsking(config) {
  if (regionGranted) consentModeUpdate({}, {}, config);
}
