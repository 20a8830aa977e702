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

// Before any Google tag: every signal denied but security storage, then the site's own
// defaults as the previous page view learnt them (the configuration is not here yet).
export function consentModeDefault(siteKey) {
  gtag('consent', 'default', { ...signals(() => 0), security_storage: 'granted', wait_for_update: 500 });
  try {
    const [key, site] = JSON.parse(localStorage.getItem('cmp_gcm'));
    if (key == siteKey) siteDefaults(site);
  } catch (e) {} // none yet
}

// The site's Google Consent Mode (cmp_server/sites/google_consent_mode.py): granted by
// default in the regions it asks nobody first, ads data redaction, URL passthrough.
function siteDefaults(site) {
  if (site.granted_regions.length) gtag('consent', 'default', { ...signals(() => 1), security_storage: 'granted', region: site.granted_regions });
  if (site.ads_data_redaction) gtag('set', 'ads_data_redaction', true);
  if (site.url_passthrough) gtag('set', 'url_passthrough', true);
}

// The configuration has arrived: the site's defaults now, unless the page view began with
// them already, and kept for the next one.
export function consentModeSite(siteKey, g) {
  const site = { granted_regions: g.granted_regions, ads_data_redaction: g.ads_data_redaction, url_passthrough: g.url_passthrough };
  const value = JSON.stringify([siteKey, site]);
  try {
    if (localStorage.getItem('cmp_gcm') == value) return;
    localStorage.setItem('cmp_gcm', value);
  } catch (e) {} // no storage: the defaults come with each configuration
  siteDefaults(site);
}

export function consentModeUpdate(grantedPurposes) {
  gtag('consent', 'update', signals((p) => grantedPurposes[p]));
  pushToDataLayer({ event: 'cmp_consent_update' });
}
