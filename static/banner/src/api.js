// The backend: the banner configuration and recording a choice.
import { _s } from './state.js';

const _json = (r) => (r.ok ? r.json() : Promise.reject(r.status));

// Revalidated on every page view (a 304 when nothing changed): the configuration lists
// the receipts the ledger has moved past without this browser (see main.js, _start).
export const _getConfig = (lang) =>
  fetch(
    _s._configUrl ||
      `${_s._origin}/api/v1/sites/${encodeURIComponent(_s._site)}/banner` +
        (/^[a-z]{2,3}$/.test(lang) ? '?lang=' + lang : ''),
    { credentials: _s._configUrl ? 'same-origin' : 'omit', cache: 'no-cache' },
  ).then(_json);

// keepalive: a choice made just before navigating away still reaches the server
const _post = (path, body) =>
  fetch(_s._origin + path, {
    method: 'POST',
    keepalive: true,
    credentials: 'omit',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then(_json);

export const _postConsent = (body) => _post('/api/v1/consents', body);

// The subject's current state, for a token the configuration lists as stale.
export const _current = (token) => _post('/api/v1/receipts/current', { token });

// The banner asked (or told) the visitor: counted per site and day for the consent
// analytics' "saw the banner without choosing". No body, so no CORS preflight.
export const _impression = () =>
  fetch(`${_s._origin}/api/v1/sites/${encodeURIComponent(_s._site)}/impressions`, {
    method: 'POST',
    keepalive: true,
    credentials: 'omit',
  }).catch(() => 0);
