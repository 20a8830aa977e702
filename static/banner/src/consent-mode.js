// Google Consent Mode v2 through the dataLayer, so it works whether or not gtag.js or
// Tag Manager has loaded yet (they read the queued commands when they do).
const _push = (x) => (window.dataLayer = window.dataLayer || []).push(x);
// gtag() must queue an arguments object, not an array
function _gtag() {
  _push(arguments);
}

const _KEYS = 'ad_storage ad_user_data ad_personalization analytics_storage functionality_storage personalization_storage'.split(' ');
const _PURPOSE = ['marketing', 'marketing', 'marketing', 'analytics', 'preferences', 'preferences'];

const _map = (granted) =>
  Object.fromEntries(_KEYS.map((k, i) => [k, granted(_PURPOSE[i]) ? 'granted' : 'denied']));

export const _cmDefault = () =>
  _gtag('consent', 'default', { ..._map(() => 0), security_storage: 'granted', wait_for_update: 500 });

export function _cmUpdate(purposes) {
  _gtag('consent', 'update', _map((p) => purposes[p]));
  _push({ event: 'cmp_consent_update' });
}
