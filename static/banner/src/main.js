// The tag: <script src="https://CMP_HOST/banner/cmp.js" data-site="SITE_KEY" async>.
// Optional: data-blocking="auto" (first synchronous script in <head>) holds back scripts
// from catalogue hosts without markup; data-button adds a small persistent settings button.
import { state, nowSeconds } from './state.js';
import { fetchConfig, countImpression, postConsent, fetchCurrentChoice } from './api.js';
import { readToken, tokenClaims, saveToken, forgetToken, pendingChoice, deleteVendorStorage } from './store.js';
import { watchForGated, releaseGranted, blockAutomatically } from './gating.js';
import { consentModeDefault, consentModeRemembered } from './consent-mode.js';
import { mount, show, hide, addStyles } from './ui.js';
import { loadedModules, loadModule } from './modules.js';

const waitingForBanner = []; // API calls waiting for the configuration and the banner
let bannerReady = false;
let sending = Promise.resolve();
let modulesLoaded = sending; // the modules the configuration asked for (onConfig)

const whenReady = (f) => (bannerReady ? f() : waitingForBanner.push(f));

// What cmp.getConsent() answers, and the cmp:consent event carries.
function consentSummary() {
  const c = state._config;
  const choice = state._choice;
  const map = (list, granted) => Object.fromEntries((list || Object.keys(granted).map((id) => ({ id }))).map((x) => [x.id, !!granted[x.id]]));
  return {
    purposes: map(c && c.purposes, state._grantedPurposes),
    vendors: map(c && c.vendors, state._grantedVendors),
    receipt_id: (choice && choice._receiptId) || null,
    expires_at: choice ? new Date(choice._expires * 1000).toISOString() : null,
    state: choice ? choice._state : null,
    mode: c ? c.mode : null,
    gpc: state._gpc,
  };
}

// Make a set of grants effective: consent mode, gated tags, revoked vendors' storage. A
// vendor needs every purpose it declares (a token recorded before the server enforced
// this may grant one on a single purpose).
function applyGrants(purposeIds, vendorIds, body) {
  const c = state._config;
  const purposes = {};
  const vendors = {};
  for (const id of purposeIds) purposes[id] = true;
  for (const id of vendorIds) vendors[id] = true;
  if (c) {
    for (const x of c.purposes) if (x.required) purposes[x.id] = true;
    for (const v of c.vendors)
      if (v.legal_basis != 'consent') vendors[v.id] = true;
      else if (!v.purposes.every((x) => purposes[x])) delete vendors[v.id];
  }
  state._grantedPurposes = purposes;
  state._grantedVendors = vendors;
  for (const m of Object.values(loadedModules)) if (m._grants) m._grants(purposes, vendors, body); // consent signals; the TCF's strings join the BODY recorded
  modulesLoaded.then(releaseGranted); // never before the consent signals' modules
  if (c) deleteVendorStorage(c.vendors.filter((v) => !vendors[v.id]));
}

// cmp:consent: once when the page's choice is known, then once per change, after the
// server has answered (with the receipt id once it has acknowledged the choice).
const announce = () => document.dispatchEvent(new CustomEvent('cmp:consent', { detail: consentSummary() }));

// Send the pending choice, one request at a time; it stays in localStorage until the
// server has acknowledged it, and is sent again on a later page view if this fails.
const sendPending = () => (sending = sending.then(sendPendingOnce, sendPendingOnce));

function sendPendingOnce() {
  const pending = pendingChoice();
  if (!pending || pending._siteKey != state._siteKey) return;
  const body = { ...pending._body };
  const token = readToken();
  const claims = token && tokenClaims(token);
  if (claims && claims._siteKey == state._siteKey) body.token = token;
  else if (body.action == 'withdraw') body.action = 'reject_all'; // nothing recorded to withdraw yet
  return postConsent(body).then(
    (answer) => {
      const acknowledged = tokenClaims(answer.token);
      saveToken(answer.token, acknowledged._expires);
      if (JSON.stringify(pendingChoice()) == JSON.stringify(pending)) {
        pendingChoice(null);
        state._choice = acknowledged;
      }
    },
    (status) => {
      // refused for good (4xx other than timeout and rate limit): retrying cannot help
      if (status >= 400 && status < 500 && status != 408 && status != 429) {
        console.warn('cmp: refused', status);
        pendingChoice(null);
      }
    },
  );
}

/**
 * Record a choice.
 * @param {'accept_all' | 'reject_all' | 'custom' | 'withdraw' | 'gpc'} action
 * @param {string} method the collection method ('' when the first layer was used)
 * @param {{_purposes: string[], _vendors: string[]}} [selected] what the settings had on (custom)
 */
function choose(action, method, selected) {
  const c = state._config;
  const optional = c.purposes.filter((x) => !x.required).map((x) => x.id);
  const consentVendors = c.vendors.filter((v) => v.legal_basis == 'consent');
  let purposes = [];
  let vendors = [];
  if (action == 'accept_all') {
    purposes = optional;
    vendors = consentVendors.map((v) => v.id);
  } else if (action == 'custom') {
    purposes = optional.filter((id) => selected._purposes.includes(id));
    const on = new Set([...purposes, ...c.purposes.filter((x) => x.required).map((x) => x.id)]);
    vendors = consentVendors.filter((v) => selected._vendors.includes(v.id) && v.purposes.every((x) => on.has(x))).map((v) => v.id);
  }
  const outcome = action == 'withdraw' ? 'withdrawn' : purposes.length ? 'given' : 'refused';
  const body = { site: state._siteKey, config_version: c.version, action, language: state._language, gpc: state._gpc };
  if (method) body.collection_method = method;
  if (action == 'custom') {
    body.purposes = Object.fromEntries(optional.map((id) => [id, purposes.includes(id)]));
    body.vendors = Object.fromEntries(consentVendors.map((v) => [v.id, vendors.includes(v.id)]));
  }
  const months = outcome == 'given' ? c.consent_lifetime_months : c.refusal_lifetime_months;
  state._choice = { _purposes: purposes, _vendors: vendors, _scope: c.consent_scope, _expires: nowSeconds() + Math.round(months * 30.44 * 86400), _state: outcome };
  applyGrants(purposes, vendors, body);
  if (state._preview) return announce(); // the console's preview: nothing is recorded
  pendingChoice({ _siteKey: state._siteKey, _body: body, _choice: state._choice, _savedAt: Date.now() });
  sendPending().then(announce);
}

// The configuration has arrived. If it lists the cookie's receipt as stale (the ledger
// moved on without this browser: /my-consent/, the API, an erasure), or the list is full
// and the token older than what it covers, the subject's current state replaces the
// cookie before anything applies; if that cannot be had, nothing does.
function onConfig(c) {
  state._config = c;
  state._language = c.language;
  const choice = state._choice;
  const stale =
    choice && choice._receiptId && ((c.stale || []).includes(choice._receiptId.slice(0, 8)) || (choice._issuedAt || 0) < c.stale_before);
  // the modules the site needs (its consent signals, its look, TCF) come first; a visitor
  // asked first waits only for those the first layer shows (nothing is granted until the choice)
  const loaded = (modulesLoaded = Promise.all(c.load.map(loadModule)));
  const asked = !choice && c.mode == 'opt-in';
  if (!stale) return (asked ? Promise.all(c.show.map(loadModule)) : loaded).then(() => begin(c, loaded));
  loaded
    .then(() => fetchCurrentChoice(readToken()))
    .then(
      (answer) => {
        const claims = answer.token && tokenClaims(answer.token);
        if (claims) saveToken(answer.token, claims._expires);
        else forgetToken(); // expired or erased: ask again
        state._choice = claims;
      },
      () => (state._choice = null),
    )
    .then(() => begin(c, loaded));
}

// Apply the stored choice, then put up the banner and decide whether it asks. Without a
// choice the consent signals' modules may still be loading: once they are there, their
// defaults apply, and a choice made meanwhile again.
function begin(c, loaded) {
  const choice = state._choice;
  if (choice) {
    applyGrants(choice._purposes, choice._vendors);
    // a choice an earlier page view could not deliver is announced once the server answers
    (pendingChoice() ? sendPending() : Promise.resolve()).then(announce);
  } else
    loaded.then(() => {
      const made = state._choice;
      if (made) applyGrants(made._purposes, made._vendors);
      else if (c.mode == 'opt-in' && loadedModules.google) loadedModules.google._asking();
      releaseGranted(); // scripts held while the catalogue was unknown
    });
  const putUp = () => {
    mount(c.strings, (action, fromSettings, selected) =>
      choose({ 'accept-all': 'accept_all', 'reject-all': 'reject_all', save: 'custom' }[action], fromSettings ? 'settings_layer' : '', selected),
    );
    // a choice that covers everything this version asks about, and has not expired
    if (!(choice && c.consent_scope.every((x) => choice._scope.includes(x)))) {
      if (c.mode != 'none' && !state._preview) countImpression();
      if (c.mode == 'opt-in') show(1, true);
      else if (state._gpc) {
        choose('gpc', 'gpc_signal');
        show(1, false, 1);
      } else {
        applyGrants(
          c.purposes.map((x) => x.id),
          c.vendors.map((v) => v.id),
        ); // opt-out: allowed until the visitor objects
        if (!choice) announce();
        if (c.mode == 'opt-out') show(1, false);
      }
    }
    bannerReady = true;
    waitingForBanner.splice(0).forEach((f) => f());
    if (state._settingsButton) loadModule('button');
  };
  document.body ? putUp() : addEventListener('DOMContentLoaded', putUp);
}

// Without the configuration (the backend is down) the stored choice is all there is: it
// applies; with none, nothing runs and no banner shows.
function onConfigMissing(error) {
  console.warn('cmp: no configuration', error);
  const choice = state._choice;
  if (choice) {
    applyGrants(choice._purposes, choice._vendors);
    announce();
  }
}

// window.cmp: cmp('acceptAll') and cmp.acceptAll() alike
const api = (name, ...args) => api[name](...args);
Object.assign(api, {
  open: () => whenReady(() => show(2, true)),
  acceptAll: () => whenReady(() => (choose('accept_all', 'api'), hide())),
  rejectAll: () => whenReady(() => (choose('reject_all', 'api'), hide())),
  withdraw: () => whenReady(() => (choose('withdraw', 'api'), hide())),
  hasConsent: (id) => !!(state._grantedPurposes[id] || state._grantedVendors[id]),
  getConsent: consentSummary,
  _core: { _shared: state, _choose: choose, _hide: hide, _addStyles: addStyles, _modules: loadedModules }, // for the modules
});

function init(tag) {
  state._siteKey = tag.getAttribute('data-site');
  state._cmpOrigin = new URL(tag.src).origin;
  state._nonce = tag.nonce || '';
  state._autoBlocking = tag.getAttribute('data-blocking') == 'auto';
  state._settingsButton = tag.hasAttribute('data-button');
  // data-preview with data-config: the console shows a draft; no stored choice, no record
  state._preview = tag.hasAttribute('data-preview');
  state._configUrl = tag.getAttribute('data-config');
  consentModeDefault(); // before any Google tag can run
  if (state._autoBlocking) blockAutomatically();
  // the stored choice: one not yet acknowledged by the server is newer than the cookie's
  const token = readToken();
  const claims = token && tokenClaims(token);
  let pending = pendingChoice();
  if (pending && pending._choice._expires <= nowSeconds()) pending = pendingChoice(null); // too old to be worth recording
  const choice = state._preview
    ? null
    : pending && pending._siteKey == state._siteKey
      ? pending._choice
      : claims && claims._siteKey == state._siteKey
        ? claims
        : null;
  if (choice && choice._expires > nowSeconds()) state._choice = choice;
  // a choice made here and not yet acknowledged applies at once; the cookie's waits for
  // the configuration, which says whether the ledger still agrees with it
  if (state._choice && !state._choice._receiptId) applyGrants(choice._purposes, choice._vendors);
  // a region default granted before a stored refusal or GPC could apply: only without them
  else if (!state._choice && !state._gpc && !state._preview) state._gcmRemembered = consentModeRemembered(state._siteKey);
  watchForGated();
  fetchConfig(document.documentElement.lang).then(onConfig, onConfigMissing); // else the browser's languages decide
  addEventListener('click', (e) => {
    const el = e.target.closest && e.target.closest('[data-cmp-open]');
    if (el) {
      e.preventDefault();
      api.open();
    }
  });
  const queued = window.cmp && window.cmp.q;
  window.cmp = api;
  for (const args of queued || []) api(...args);
}


const tag = document.currentScript;
if (tag && !(window.cmp && window.cmp.getConsent)) init(tag);
