// The one state object the modules share, and the types of what the browser stores.
// Properties whose names start with _ are the banner's own: the build shortens them
// (mangleProps). The stored formats keep short keys: build.mjs (STORED_KEYS) builds each
// property of Choice and PendingChoice below as its stored key, so the code reads and
// writes the stored JSON under these names, and the server's token claims
// (cmp_server/consent/receipts.py, token_for) arrive as a Choice.

/**
 * A visitor's choice: the claims of the cmp_consent token, or a choice not yet
 * acknowledged by the server. Stored keys in brackets.
 * @typedef {object} Choice
 * @property {string} [_receiptId] [r] the receipt's id; absent until the server acknowledged the choice
 * @property {string} [_siteKey] [k] the site it was made on
 * @property {'given' | 'refused' | 'withdrawn'} _state [st]
 * @property {number} _expires [e] expiry, epoch seconds
 * @property {number} [_issuedAt] [t] when the server made the token, epoch milliseconds
 * @property {string[]} _purposes [p] granted purpose ids
 * @property {string[]} _vendors [g] granted vendor ids
 * @property {string[]} _scope [q] what the version chosen on asked about ("purpose:x", "vendor:y~2")
 */

/**
 * A choice waiting for the server (localStorage cmp_pending).
 * @typedef {object} PendingChoice
 * @property {string} _siteKey [k]
 * @property {object} _body [b] the POST /api/v1/consents body
 * @property {Choice} _choice [c]
 * @property {number} _savedAt [n] Date.now() when it was made
 */

/**
 * What the modules share. Set from the tag's attributes: _siteKey, _cmpOrigin (where
 * cmp.js came from: the API's origin), _nonce (the tag's CSP nonce, given to what the
 * banner releases), _autoBlocking (data-blocking="auto"), _settingsButton (data-button),
 * _preview (data-preview: the console's preview, nothing stored or recorded) and
 * _configUrl (data-config: the preview's draft configuration).
 * @type {{
 *   _siteKey: string, _cmpOrigin: string, _nonce: string, _autoBlocking: boolean,
 *   _settingsButton?: boolean, _preview?: boolean, _configUrl?: string,
 *   _language?: string,
 *   _config: object | null,
 *   _grantedPurposes: Record<string, true>, _grantedVendors: Record<string, true>,
 *   _choice: Choice | null,
 *   _gpc: boolean,
 * }}
 */
export const state = {
  // _siteKey, _cmpOrigin, _nonce, _autoBlocking...: set by init (main.js) from the tag
  // _config: the banner document from the API, once it has arrived
  _grantedPurposes: {}, // purpose id -> true
  _grantedVendors: {}, // vendor id -> true
  // _choice: from the cookie, or a choice not yet acknowledged
  _gpc: navigator.globalPrivacyControl === true, // the browser's Global Privacy Control
  // _language: the UI's language, once the configuration has arrived
};

// A data-cmp-vendor / data-cmp-purpose value may list several ids: any granted one will do.
export const anyGranted = (ids) => ids.split(/\s+/).some((id) => state._grantedPurposes[id] || state._grantedVendors[id]);

export const nowSeconds = () => Math.floor(Date.now() / 1000);
