// The backend: the banner configuration and recording a choice.
import { _s } from './state.js';

const _json = (r) => (r.ok ? r.json() : Promise.reject(r.status));

export const _getConfig = (lang) =>
  fetch(
    _s._configUrl ||
      `${_s._origin}/api/v1/sites/${encodeURIComponent(_s._site)}/banner` +
        (/^[a-z]{2,3}$/.test(lang) ? '?lang=' + lang : ''),
    { credentials: _s._configUrl ? 'same-origin' : 'omit' },
  ).then(_json);

// keepalive: a choice made just before navigating away still reaches the server
export const _postConsent = (body) =>
  fetch(`${_s._origin}/api/v1/consents`, {
    method: 'POST',
    keepalive: true,
    credentials: 'omit',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  }).then(_json);

// The banner asked (or told) the visitor: counted per site and day for the consent
// analytics' "saw the banner without choosing". No body, so no CORS preflight.
export const _impression = () =>
  fetch(`${_s._origin}/api/v1/sites/${encodeURIComponent(_s._site)}/impressions`, {
    method: 'POST',
    keepalive: true,
    credentials: 'omit',
  }).catch(() => 0);
