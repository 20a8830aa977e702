// The backend: the banner configuration and recording a choice.
import { state } from './state.js';

const jsonOrStatus = (r) => (r.ok ? r.json() : Promise.reject(r.status));

// Revalidated on every page view (a 304 when nothing changed): the configuration lists
// the receipts the ledger has moved past without this browser (see main.js, onConfig).
// Refused, it rejects with the server's reason when there is one (an origin the site did
// not register: which, and where to register it).
const siteUrl = (path) => `${state._cmpOrigin}/api/v1/sites/${encodeURIComponent(state._siteKey)}/${path}`;

// The page's language (the server picks the best one the site can show every text in,
// among it and the browser's) and an explicit one alike.
export const fetchConfig = (language) =>
  fetch(
    state._configUrl || siteUrl('banner') + (/^[a-z]{2,3}(-[a-z0-9]{1,8})*$/i.test(language) ? '?lang=' + language : ''),
    { credentials: state._configUrl ? 'same-origin' : 'omit', cache: 'no-cache' },
  ).then((r) => (r.ok ? r.json() : r.json().then((e) => Promise.reject(e.message), () => Promise.reject(r.status))));

// keepalive: a choice made just before navigating away still reaches the server
const post = (path, body) =>
  fetch(state._cmpOrigin + path, {
    method: 'POST',
    keepalive: true,
    credentials: 'omit',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then(jsonOrStatus);

export const postConsent = (body) => post('/api/v1/consents', body);

// The subject's current state, for a token the configuration lists as stale.
export const fetchCurrentChoice = (token) => post('/api/v1/receipts/current', { token });

// The banner asked (or told) the visitor: counted per site and day for the consent
// analytics' "saw the banner without choosing". No body, so no CORS preflight.
export const countImpression = () =>
  fetch(siteUrl('impressions'), {
    method: 'POST',
    keepalive: true,
    credentials: 'omit',
  }).catch(() => 0);
