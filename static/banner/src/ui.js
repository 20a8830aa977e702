// The banner: a dialog in an open shadow root on <div id="cmp-root">, so the host page's
// CSS cannot reach it. Layer 1 asks (Reject all and Accept all side by side, same style);
// layer 2 lists each purpose and, under it, its vendors. Fixed position: the host page's
// layout never moves.
import { state } from './state.js';
import { tokenClaims, readToken } from './store.js';
import { escapeHtml, safeUrl } from './html.js';

/* global __CMP_CSS__ */
let shadow, dialog, backdrop, settingsButton, text, onAction;
let shownLayer = 0; // 0 hidden, 1 first layer, 2 settings
let isModal = false;
let firstLayerAs = null; // how layer 1 was shown, to go back to it with Escape
let focusBefore = null; // what had focus before the banner took it

const button = (action, label) => `<button type="button" class="b" data-cmp-action="${action}">${escapeHtml(label)}</button>`;
const policyLink = (u) => `<a href="${safeUrl(u)}" target="_blank" rel="noopener">${escapeHtml(text.policy)}</a>`;
const toggleSwitch = (kind, id, on, locked, label) =>
  `<input type="checkbox" role="switch" data-cmp-${kind}-toggle="${escapeHtml(id)}" aria-label="${escapeHtml(label)}"` +
  (on || locked ? ' checked' : '') + (locked ? ' disabled' : '') + '>';
const STORAGE_NAMES = { cookie: 'cookie', local_storage: 'localStorage', session_storage: 'sessionStorage' };
const lifetime = (l) => (l == 'session' ? text.session : l == 'persistent' ? text.persistent : `${l} ${text.days}`);

function firstLayer(notice) {
  const c = state._config;
  return (
    `<h2 id="cmp-t">${escapeHtml(text.title)}</h2><p id="cmp-d">${escapeHtml(text.intro)}</p>` +
    (state._gpc ? `<p class="gpc">${escapeHtml(text.gpc)}</p>` : '') +
    `<p>${escapeHtml(c.controller && c.controller.name)} · ${policyLink(c.policy_url)}</p><div class="bar">` +
    (notice ? button('close', text.ok) : button('reject-all', text.reject) + button('accept-all', text.accept)) +
    button('customize', text.customize) + '</div>'
  );
}

// A vendor is listed under each of its purposes; one that needs several says which.
const vendorRow = (v) => {
  const h = v.hosting || {};
  const names = state._config.purposes.filter((p) => !p.required && v.purposes.includes(p.id)).map((p) => p.name);
  return (
    `<div class="row v"><details><summary>${escapeHtml(v.name)}` +
    (v.legal_basis == 'consent' && names.length > 1 ? `<small class="needs">${escapeHtml(text.needs)}: ${escapeHtml(names.join(', '))}</small>` : '') +
    `</summary><p>${escapeHtml(v.company.replace(/\.?$/, '.'))} ${escapeHtml(v.description)}</p><dl>` +
    `<dt>${escapeHtml(text.retention)}</dt><dd>${v.retention_months ? escapeHtml(v.retention_months) + ' ' + escapeHtml(text.months) : escapeHtml(text.session)}</dd>` +
    `<dt>${escapeHtml(text.hosting)}</dt><dd>${escapeHtml((h.locations || []).join(', '))}${h.safeguards ? ' (' + escapeHtml(h.safeguards) + ')' : ''}</dd>` +
    (v.cookies.length
      ? `<dt>${escapeHtml(text.cookies)}</dt><dd><ul>` +
        v.cookies.map((k) => `<li><code>${escapeHtml(k.name)}</code> ${STORAGE_NAMES[k.storage]}, ${escapeHtml(lifetime(k.lifetime))}: ${escapeHtml(k.description)}</li>`).join('') +
        '</ul></dd>'
      : '') +
    `</dl>${policyLink(v.policy_url)}</details>${toggleSwitch('vendor', v.id, state._grantedVendors[v.id], v.legal_basis != 'consent', v.name)}</div>`
  );
};

function settingsLayer() {
  const c = state._config;
  return (
    // the way back to the first layer, or out: the choice stays unmade either way
    `<div class="row"><h2 id="cmp-t">${escapeHtml(text.settings)}</h2>` +
    (firstLayerAs ? `<button type="button" class="x" data-cmp-action="back">${escapeHtml(text.back)}</button>` : `<button type="button" class="x" data-cmp-action="close">${escapeHtml(text.close)}</button>`) +
    '</div><div class="list">' +
    c.purposes
      .map(
        (p) =>
          `<section data-p="${escapeHtml(p.id)}"><div class="row"><h3>${escapeHtml(p.name)}${p.required ? ` <small>(${escapeHtml(text.always)})</small>` : ''}</h3>` +
          `${toggleSwitch('purpose', p.id, state._grantedPurposes[p.id], p.required, p.name)}</div><p>${escapeHtml(p.description)}</p>` +
          c.vendors.filter((v) => v.purposes.includes(p.id)).map(vendorRow).join('') + '</section>',
      )
      .join('') +
    `</div>${consentIdLine()}<div class="bar">${button('reject-all', text.reject)}${button('accept-all', text.accept)}${button('save', text.save)}</div>`
  );
}

// The visitor's consent id, and their own page (history, download, change, erasure); the
// token travels in the URL fragment, which no server sees.
function consentIdLine() {
  const token = readToken();
  const claims = token && tokenClaims(token);
  return claims
    ? `<p class="id">${escapeHtml(text.cid)}: <code>${escapeHtml(claims._receiptId)}</code> · ` +
        `<a href="${escapeHtml(state._cmpOrigin)}/my-consent/#token=${escapeHtml(token)}" target="_blank" rel="noopener">${escapeHtml(text.mine)}</a></p>`
    : '';
}

const focusables = () =>
  [...dialog.querySelectorAll('a[href],button,input:not(:disabled),summary')].filter((e) => e.getClientRects().length);

/**
 * Shows a layer of the banner.
 * @param {1 | 2} layer 1 asks (or tells), 2 is the settings
 * @param {boolean} modal whether it holds focus until answered (layer 2 always does)
 * @param {boolean | 1} [notice] layer 1 tells instead of asking: OK instead of Reject and Accept
 */
export function show(layer, modal, notice) {
  if (!shownLayer) focusBefore = document.activeElement;
  if (layer == 1) firstLayerAs = [modal, notice];
  else if (shownLayer != 1) firstLayerAs = null;
  shownLayer = layer;
  isModal = modal || layer == 2;
  dialog.innerHTML = layer == 1 ? firstLayer(notice) : settingsLayer();
  dialog.className = 'l' + layer;
  layer == 1 ? dialog.setAttribute('aria-describedby', 'cmp-d') : dialog.removeAttribute('aria-describedby');
  isModal ? dialog.setAttribute('aria-modal', 'true') : dialog.removeAttribute('aria-modal');
  dialog.hidden = false;
  backdrop.hidden = !isModal;
  settingsButton.hidden = true;
  if (isModal) dialog.focus();
  performance.mark('cmp:shown');
}

export function hide() {
  if (!shownLayer) return;
  shownLayer = 0;
  firstLayerAs = null;
  dialog.hidden = backdrop.hidden = true;
  dialog.innerHTML = '';
  settingsButton.hidden = !state._settingsButton;
  if (isModal && focusBefore && focusBefore.focus) focusBefore.focus();
}

/**
 * Puts the (hidden) banner on the page.
 * @param {Record<string, string>} strings the UI texts
 * @param {(action: string, fromSettings: boolean, selected: {_purposes: string[], _vendors: string[]}) => void} act records a choice
 */
export function mount(strings, act) {
  text = strings;
  onAction = act;
  const host = document.createElement('div');
  host.id = 'cmp-root';
  const theme = state._config.theme || {};
  for (const [k, v] of Object.entries(theme)) host.style.setProperty('--cmp-' + k.replace(/^--(cmp-)?/, ''), String(v));
  // the layout and light or dark, as attributes the stylesheet reads
  host.setAttribute('data-layout', theme.layout || 'box');
  if (theme.scheme == 'dark' || (theme.scheme == 'auto' && matchMedia('(prefers-color-scheme: dark)').matches))
    host.setAttribute('data-dark', '');
  shadow = host.attachShadow({ mode: 'open' });
  shadow.innerHTML =
    '<div class="bd" hidden></div><div id="cmp-banner" role="dialog" aria-labelledby="cmp-t" tabindex="-1" hidden></div>' +
    `<button type="button" class="fab" data-cmp-action="open" hidden>${escapeHtml(text.settings)}</button>`;
  // A constructed stylesheet: CSP's style-src does not apply to it, so the banner is styled
  // on pages whose policy has neither 'unsafe-inline' nor a nonce for styles. Browsers
  // without adoptedStyleSheets (Safari < 16.4) get a <style> with the tag's nonce.
  const css = __CMP_CSS__;
  if (shadow.adoptedStyleSheets) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement('style');
    style.nonce = state._nonce;
    style.textContent = css;
    shadow.prepend(style);
  }
  [backdrop, dialog, settingsButton] = shadow.querySelectorAll('.bd,#cmp-banner,.fab');
  shadow.addEventListener('click', (e) => {
    const b = e.target.closest('[data-cmp-action]');
    if (!b) return;
    const a = b.getAttribute('data-cmp-action');
    if (a == 'customize' || a == 'open') return show(2, true);
    if (a == 'back') return show(1, ...firstLayerAs);
    if (a != 'close') {
      const checked = (kind) =>
        [...dialog.querySelectorAll(`[data-cmp-${kind}-toggle]:checked`)].map((x) => x.getAttribute(`data-cmp-${kind}-toggle`));
      onAction(a, shownLayer == 2, { _purposes: checked('purpose'), _vendors: checked('vendor') });
    }
    hide();
  });
  // A vendor is on only while every purpose it needs is on: switching a purpose sets its
  // vendors accordingly; switching a vendor on switches on every purpose it needs. A
  // vendor listed under several purposes has one switch in each, kept alike.
  shadow.addEventListener('change', (e) => {
    const el = e.target;
    const toggle = (kind, id) => [...dialog.querySelectorAll(`[data-cmp-${kind}-toggle="${CSS.escape(id)}"]`)];
    const on = (id) => toggle('purpose', id).every((t) => t.checked);
    const pid = el.getAttribute('data-cmp-purpose-toggle');
    const vid = el.getAttribute('data-cmp-vendor-toggle');
    for (const v of state._config.vendors) {
      if (v.legal_basis != 'consent') continue;
      if (v.id == vid) {
        for (const t of toggle('vendor', vid)) t.checked = el.checked;
        if (el.checked) for (const x of v.purposes) for (const t of toggle('purpose', x)) t.checked = true;
      } else if (v.purposes.includes(pid)) for (const t of toggle('vendor', v.id)) t.checked = v.purposes.every(on);
    }
  });
  shadow.addEventListener('keydown', (e) => {
    if (e.key == 'Escape' && shownLayer == 2) {
      e.preventDefault();
      firstLayerAs ? show(1, ...firstLayerAs) : hide();
    } else if (e.key == 'Tab' && isModal && shownLayer) {
      const f = focusables();
      const a = shadow.activeElement;
      if (e.shiftKey ? a == f[0] || a == dialog : a == f[f.length - 1]) {
        e.preventDefault();
        f[e.shiftKey ? f.length - 1 : 0].focus();
      }
    }
  });
  // keep focus inside while modal, wherever it tries to go
  document.addEventListener('focusin', (e) => {
    if (isModal && shownLayer && e.target != host) dialog.focus();
  });
  document.body.append(host);
}
