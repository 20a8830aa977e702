// The tag: <script src="https://CMP_HOST/banner/cmp.js" data-site="SITE_KEY" async>.
// Optional: data-blocking="auto" (first synchronous script in <head>) holds back scripts
// from catalogue hosts without markup; data-button adds a small persistent settings button.
import { _s, _now } from './state.js';
import { _getConfig, _impression, _postConsent, _current } from './api.js';
import { _readToken, _claims, _saveToken, _forgetToken, _pending, _purge } from './store.js';
import { _watch, _scan, _autoBlock } from './gating.js';
import { _cmDefault, _cmUpdate } from './consent-mode.js';
import { _wanted, _uiLang, _strings } from './i18n.js';
import { _mount, _show, _hide } from './ui.js';

const _later = []; // API calls waiting for the configuration and the banner
let _ready = false;
let _sending = Promise.resolve();

const _when = (f) => (_ready ? f() : _later.push(f));

function _consent() {
  const c = _s._config;
  const ch = _s._choice;
  const map = (list, m) => Object.fromEntries((list || Object.keys(m).map((id) => ({ id }))).map((x) => [x.id, !!m[x.id]]));
  return {
    purposes: map(c && c.purposes, _s._p),
    vendors: map(c && c.vendors, _s._g),
    receipt_id: (ch && ch.r) || null,
    expires_at: ch ? new Date(ch.e * 1000).toISOString() : null,
    state: ch ? ch.st : null,
    mode: c ? c.mode : null,
    gpc: _s._gpc,
  };
}

// Make a set of grants effective: consent mode, gated tags, revoked vendors' storage. A
// vendor needs every purpose it declares (a token recorded before the server enforced
// this may grant one on a single purpose).
function _apply(p, g) {
  const c = _s._config;
  const P = {};
  const G = {};
  for (const id of p) P[id] = true;
  for (const id of g) G[id] = true;
  if (c) {
    for (const x of c.purposes) if (x.required) P[x.id] = true;
    for (const v of c.vendors)
      if (v.legal_basis != 'consent') G[v.id] = true;
      else if (!v.purposes.every((x) => P[x])) delete G[v.id];
  }
  _s._p = P;
  _s._g = G;
  _cmUpdate(P);
  _scan();
  if (c) {
    const left = _purge(c.vendors.filter((v) => !G[v.id]));
    if (left.length) console.warn('cmp: could not delete', left);
  }
}

// cmp:consent: once when the page's choice is known, then once per change, after the
// server has answered (with the receipt id once it has acknowledged the choice).
const _announce = () => document.dispatchEvent(new CustomEvent('cmp:consent', { detail: _consent() }));

// Send the pending choice, one request at a time; it stays in localStorage until the
// server has acknowledged it, and is sent again on a later page view if this fails.
const _send = () => (_sending = _sending.then(_sendOnce, _sendOnce));

function _sendOnce() {
  const pend = _pending();
  if (!pend || pend.k != _s._site) return;
  const body = { ...pend.b };
  const token = _readToken();
  const claims = token && _claims(token);
  if (claims && claims.k == _s._site) body.token = token;
  else if (body.action == 'withdraw') body.action = 'reject_all'; // nothing recorded to withdraw yet
  return _postConsent(body).then(
    (r) => {
      const c = _claims(r.token);
      _saveToken(r.token, c.e);
      if (JSON.stringify(_pending()) == JSON.stringify(pend)) {
        _pending(null);
        _s._choice = c;
      }
    },
    (status) => {
      // refused for good (4xx other than timeout and rate limit): retrying cannot help
      if (status >= 400 && status < 500 && status != 408 && status != 429) {
        console.warn('cmp: choice refused by the server', status);
        _pending(null);
      }
    },
  );
}

// Record a choice: accept_all, reject_all, custom ({p, g} from the settings), withdraw, gpc.
function _choose(action, method, sel) {
  const c = _s._config;
  const optional = c.purposes.filter((x) => !x.required).map((x) => x.id);
  const vendors = c.vendors.filter((v) => v.legal_basis == 'consent');
  let p = [];
  let g = [];
  if (action == 'accept_all') {
    p = optional;
    g = vendors.map((v) => v.id);
  } else if (action == 'custom') {
    p = optional.filter((id) => sel.p.includes(id));
    const purposes = new Set([...p, ...c.purposes.filter((x) => x.required).map((x) => x.id)]);
    g = vendors.filter((v) => sel.g.includes(v.id) && v.purposes.every((x) => purposes.has(x))).map((v) => v.id);
  }
  const st = action == 'withdraw' ? 'withdrawn' : p.length ? 'given' : 'refused';
  const body = { site: _s._site, config_version: c.version, action, language: _s._lang, gpc: _s._gpc };
  if (method) body.collection_method = method;
  if (action == 'custom') {
    body.purposes = Object.fromEntries(optional.map((id) => [id, p.includes(id)]));
    body.vendors = Object.fromEntries(vendors.map((v) => [v.id, g.includes(v.id)]));
  }
  const months = st == 'given' ? c.consent_lifetime_months : c.refusal_lifetime_months;
  _s._choice = { p, g, q: c.consent_scope, e: _now() + Math.round(months * 30.44 * 86400), st };
  _apply(p, g);
  if (_s._preview) return _announce(); // the console's preview: nothing is recorded
  _pending({ k: _s._site, b: body, c: _s._choice, n: Date.now() });
  _send().then(_announce);
}

// The configuration has arrived. If it lists the cookie's receipt as stale (the ledger
// moved on without this browser: /my-consent/, the API, an erasure), or the list is full
// and the token older than what it covers, the subject's current state replaces the
// cookie before anything applies; if that cannot be had, nothing does.
function _start(c) {
  _s._config = c;
  _s._lang = _uiLang(c.language);
  const ch = _s._choice;
  const stale = ch && ch.r && ((c.stale || []).includes(ch.r.slice(0, 8)) || (ch.t || 0) < c.stale_before);
  if (!stale) return _begin(c);
  _current(_readToken())
    .then(
      (r) => {
        const claims = r.token && _claims(r.token);
        if (claims) _saveToken(r.token, claims.e);
        else _forgetToken(); // expired or erased: ask again
        _s._choice = claims;
      },
      () => (_s._choice = null),
    )
    .then(() => _begin(c));
}

function _begin(c) {
  const ch = _s._choice;
  if (ch) {
    _apply(ch.p, ch.g);
    // a choice an earlier page view could not deliver is announced once the server answers
    (_pending() ? _send() : Promise.resolve()).then(_announce);
  } else _scan(); // scripts held while the catalogue was unknown
  _strings(_s._lang).then((strings) => {
    const body = () => {
      _mount({ ...strings, ...(_s._lang == c.language ? c.texts : {}) }, (a, settings, sel) =>
        _choose({ 'accept-all': 'accept_all', 'reject-all': 'reject_all', save: 'custom' }[a], settings ? 'settings_layer' : '', sel),
      );
      // a choice that covers everything this version asks about, and has not expired
      if (!(ch && c.consent_scope.every((x) => ch.q.includes(x)))) {
        if (c.mode != 'none' && !_s._preview) _impression();
        if (c.mode == 'opt-in') _show(1, true);
        else if (_s._gpc) {
          _choose('gpc', 'gpc_signal');
          _show(1, false, 1);
        } else {
          _apply(
            c.purposes.map((x) => x.id),
            c.vendors.map((v) => v.id),
          ); // opt-out: allowed until the visitor objects
          if (!ch) _announce();
          if (c.mode == 'opt-out') _show(1, false);
        }
      }
      _ready = true;
      _later.splice(0).forEach((f) => f());
    };
    document.body ? body() : addEventListener('DOMContentLoaded', body);
  });
}

// Without the configuration (the backend is down) the stored choice is all there is: it
// applies; with none, nothing runs and no banner shows.
function _offline(e) {
  console.warn('cmp: no banner configuration', e);
  const ch = _s._choice;
  if (ch) {
    _apply(ch.p, ch.g);
    _announce();
  }
}

const _api = (name, ...args) => _api[name](...args);
Object.assign(_api, {
  open: () => _when(() => _show(2, true)),
  acceptAll: () => _when(() => (_choose('accept_all', 'api'), _hide())),
  rejectAll: () => _when(() => (_choose('reject_all', 'api'), _hide())),
  withdraw: () => _when(() => (_choose('withdraw', 'api'), _hide())),
  hasConsent: (id) => !!(_s._p[id] || _s._g[id]),
  getConsent: _consent,
});

function _init(me) {
  _s._site = me.getAttribute('data-site');
  _s._origin = new URL(me.src).origin;
  _s._nonce = me.nonce || '';
  _s._auto = me.getAttribute('data-blocking') == 'auto';
  _s._button = me.hasAttribute('data-button');
  // data-preview with data-config: the console shows a draft; no stored choice, no record
  _s._preview = me.hasAttribute('data-preview');
  _s._configUrl = me.getAttribute('data-config');
  _cmDefault(); // before any Google tag can run
  if (_s._auto) _autoBlock();
  // the stored choice: one not yet acknowledged by the server is newer than the cookie's
  const token = _readToken();
  const claims = token && _claims(token);
  let pend = _pending();
  if (pend && pend.c.e <= _now()) pend = _pending(null); // too old to be worth recording
  const ch = _s._preview ? null : pend && pend.k == _s._site ? pend.c : claims && claims.k == _s._site ? claims : null;
  if (ch && ch.e > _now()) _s._choice = ch;
  // a choice made here and not yet acknowledged applies at once; the cookie's waits for
  // the configuration, which says whether the ledger still agrees with it
  if (_s._choice && !_s._choice.r) _apply(ch.p, ch.g);
  _watch();
  const lang = _uiLang('');
  if (lang) _strings(lang); // fetch the UI strings alongside the configuration
  _getConfig(_wanted()[0]).then(_start, _offline);
  addEventListener('click', (e) => {
    const el = e.target.closest && e.target.closest('[data-cmp-open]');
    if (el) {
      e.preventDefault();
      _api.open();
    }
  });
  const queued = window.cmp && window.cmp.q;
  window.cmp = _api;
  for (const args of queued || []) _api(...args);
}

// performance marks for `make bench` (script start to banner shown), cheap and harmless
performance.mark('cmp:start');
const _me = document.currentScript;
if (_me && !(window.cmp && window.cmp.getConsent)) _init(_me);
