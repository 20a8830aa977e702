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

export const consentModeDefault = () =>
  gtag('consent', 'default', { ...signals(() => 0), security_storage: 'granted', wait_for_update: 500 });

export function consentModeUpdate(grantedPurposes) {
  gtag('consent', 'update', signals((p) => grantedPurposes[p]));
  pushToDataLayer({ event: 'cmp_consent_update' });
}
