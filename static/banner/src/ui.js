// The banner: a dialog in an open shadow root on <div id="cmp-root">, so the host page's
// CSS cannot reach it. Layer 1 asks (Reject all and Accept all side by side, same style);
// layer 2 lists each purpose and, under it, its vendors. Fixed position: the host page's
// layout never moves.
import { _s } from './state.js';
import { _claims, _readToken } from './store.js';

/* global __CMP_CSS__ */
let _root, _dlg, _bd, _fab, _t, _act;
let _layer = 0; // 0 hidden, 1 first layer, 2 settings
let _modal = false;
let _first = null; // how layer 1 was shown, to go back to it with Escape
let _back = null; // what had focus before the banner took it

const _esc = (x) => String(x == null ? '' : x).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const _url = (u) => (/^https?:\/\//.test(u) ? _esc(u) : '#');
const _btn = (action, label) => `<button type="button" class="b" data-cmp-action="${action}">${_esc(label)}</button>`;
const _link = (u) => `<a href="${_url(u)}" target="_blank" rel="noopener">${_esc(_t.policy)}</a>`;
const _switch = (kind, id, on, locked, label) =>
  `<input type="checkbox" role="switch" data-cmp-${kind}-toggle="${_esc(id)}" aria-label="${_esc(label)}"` +
  (on || locked ? ' checked' : '') + (locked ? ' disabled' : '') + '>';
const _STORAGE = { cookie: 'cookie', local_storage: 'localStorage', session_storage: 'sessionStorage' };
const _life = (l) => (l == 'session' ? _t.session : l == 'persistent' ? _t.persistent : `${l} ${_t.days}`);

function _layer1(notice) {
  const c = _s._config;
  return (
    `<h2 id="cmp-t">${_esc(_t.title)}</h2><p id="cmp-d">${_esc(_t.intro)}</p>` +
    (_s._gpc ? `<p class="gpc">${_esc(_t.gpc)}</p>` : '') +
    `<p>${_esc(c.controller && c.controller.name)} · ${_link(c.policy_url)}</p><div class="bar">` +
    (notice ? _btn('close', _t.ok) : _btn('reject-all', _t.reject) + _btn('accept-all', _t.accept)) +
    _btn('customize', _t.customize) + '</div>'
  );
}

// A vendor is listed under each of its purposes; one that needs several says which.
const _vendor = (v) => {
  const h = v.hosting || {};
  const names = _s._config.purposes.filter((p) => !p.required && v.purposes.includes(p.id)).map((p) => p.name);
  return (
    `<div class="row v"><details><summary>${_esc(v.name)}` +
    (v.legal_basis == 'consent' && names.length > 1 ? `<small class="needs">${_esc(_t.needs)}: ${_esc(names.join(', '))}</small>` : '') +
    `</summary><p>${_esc(v.company.replace(/\.?$/, '.'))} ${_esc(v.description)}</p><dl>` +
    `<dt>${_esc(_t.retention)}</dt><dd>${_esc(v.retention_months)} ${_esc(_t.months)}</dd>` +
    `<dt>${_esc(_t.hosting)}</dt><dd>${_esc((h.locations || []).join(', '))}${h.safeguards ? ' (' + _esc(h.safeguards) + ')' : ''}</dd>` +
    (v.cookies.length
      ? `<dt>${_esc(_t.cookies)}</dt><dd><ul>` +
        v.cookies.map((k) => `<li><code>${_esc(k.name)}</code> ${_STORAGE[k.storage]}, ${_esc(_life(k.lifetime))}: ${_esc(k.description)}</li>`).join('') +
        '</ul></dd>'
      : '') +
    `</dl>${_link(v.policy_url)}</details>${_switch('vendor', v.id, _s._g[v.id], v.legal_basis != 'consent', v.name)}</div>`
  );
};

function _layer2() {
  const c = _s._config;
  return (
    `<h2 id="cmp-t">${_esc(_t.settings)}</h2><div class="list">` +
    c.purposes
      .map(
        (p) =>
          `<section data-p="${_esc(p.id)}"><div class="row"><h3>${_esc(p.name)}${p.required ? ` <small>(${_esc(_t.always)})</small>` : ''}</h3>` +
          `${_switch('purpose', p.id, _s._p[p.id], p.required, p.name)}</div><p>${_esc(p.description)}</p>` +
          c.vendors.filter((v) => v.purposes.includes(p.id)).map(_vendor).join('') + '</section>',
      )
      .join('') +
    `</div>${_mine()}<div class="bar">${_btn('reject-all', _t.reject)}${_btn('accept-all', _t.accept)}${_btn('save', _t.save)}</div>`
  );
}

// The visitor's consent id, and their own page (history, download, change, erasure); the
// token travels in the URL fragment, which no server sees.
function _mine() {
  const token = _readToken();
  const c = token && _claims(token);
  return c
    ? `<p class="id">${_esc(_t.cid)}: <code>${_esc(c.r)}</code> · ` +
        `<a href="${_esc(_s._origin)}/my-consent/#token=${_esc(token)}" target="_blank" rel="noopener">${_esc(_t.mine)}</a></p>`
    : '';
}

const _focusables = () =>
  [..._dlg.querySelectorAll('a[href],button,input:not(:disabled),summary')].filter((e) => e.getClientRects().length);

export function _show(layer, modal, notice) {
  if (!_layer) _back = document.activeElement;
  if (layer == 1) _first = [modal, notice];
  else if (_layer != 1) _first = null;
  _layer = layer;
  _modal = modal || layer == 2;
  _dlg.innerHTML = layer == 1 ? _layer1(notice) : _layer2();
  _dlg.className = 'l' + layer;
  layer == 1 ? _dlg.setAttribute('aria-describedby', 'cmp-d') : _dlg.removeAttribute('aria-describedby');
  _modal ? _dlg.setAttribute('aria-modal', 'true') : _dlg.removeAttribute('aria-modal');
  _dlg.hidden = false;
  _bd.hidden = !_modal;
  _fab.hidden = true;
  if (_modal) _dlg.focus();
  performance.mark('cmp:shown');
}

export function _hide() {
  if (!_layer) return;
  _layer = 0;
  _first = null;
  _dlg.hidden = _bd.hidden = true;
  _dlg.innerHTML = '';
  _fab.hidden = !_s._button;
  if (_modal && _back && _back.focus) _back.focus();
}

// strings: the UI texts; act(action, fromSettings, {p, g}) records a choice
export function _mount(strings, act) {
  _t = strings;
  _act = act;
  const host = document.createElement('div');
  host.id = 'cmp-root';
  for (const [k, v] of Object.entries(_s._config.theme || {}))
    host.style.setProperty('--cmp-' + k.replace(/^--(cmp-)?/, ''), String(v));
  _root = host.attachShadow({ mode: 'open' });
  _root.innerHTML =
    '<div class="bd" hidden></div><div id="cmp-banner" role="dialog" aria-labelledby="cmp-t" tabindex="-1" hidden></div>' +
    `<button type="button" class="fab" data-cmp-action="open" hidden>${_esc(_t.settings)}</button>`;
  // A constructed stylesheet: CSP's style-src does not apply to it, so the banner is styled
  // on pages whose policy has neither 'unsafe-inline' nor a nonce for styles. Browsers
  // without adoptedStyleSheets (Safari < 16.4) get a <style> with the tag's nonce.
  const css = __CMP_CSS__;
  if (_root.adoptedStyleSheets) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    _root.adoptedStyleSheets = [sheet];
  } else {
    const style = document.createElement('style');
    style.nonce = _s._nonce;
    style.textContent = css;
    _root.prepend(style);
  }
  [_bd, _dlg, _fab] = _root.querySelectorAll('.bd,#cmp-banner,.fab');
  _root.addEventListener('click', (e) => {
    const b = e.target.closest('[data-cmp-action]');
    if (!b) return;
    const a = b.getAttribute('data-cmp-action');
    if (a == 'customize' || a == 'open') return _show(2, true);
    if (a != 'close') {
      const checked = (kind) =>
        [..._dlg.querySelectorAll(`[data-cmp-${kind}-toggle]:checked`)].map((x) => x.getAttribute(`data-cmp-${kind}-toggle`));
      _act(a, _layer == 2, { p: checked('purpose'), g: checked('vendor') });
    }
    _hide();
  });
  // A vendor is on only while every purpose it needs is on: switching a purpose sets its
  // vendors accordingly; switching a vendor on switches on every purpose it needs. A
  // vendor listed under several purposes has one switch in each, kept alike.
  _root.addEventListener('change', (e) => {
    const el = e.target;
    const toggle = (kind, id) => [..._dlg.querySelectorAll(`[data-cmp-${kind}-toggle="${CSS.escape(id)}"]`)];
    const on = (id) => toggle('purpose', id).every((t) => t.checked);
    const pid = el.getAttribute('data-cmp-purpose-toggle');
    const vid = el.getAttribute('data-cmp-vendor-toggle');
    for (const v of _s._config.vendors) {
      if (v.legal_basis != 'consent') continue;
      if (v.id == vid) {
        for (const t of toggle('vendor', vid)) t.checked = el.checked;
        if (el.checked) for (const x of v.purposes) for (const t of toggle('purpose', x)) t.checked = true;
      } else if (v.purposes.includes(pid)) for (const t of toggle('vendor', v.id)) t.checked = v.purposes.every(on);
    }
  });
  _root.addEventListener('keydown', (e) => {
    if (e.key == 'Escape' && _layer == 2) {
      e.preventDefault();
      _first ? _show(1, ..._first) : _hide();
    } else if (e.key == 'Tab' && _modal && _layer) {
      const f = _focusables();
      const a = _root.activeElement;
      if (e.shiftKey ? a == f[0] || a == _dlg : a == f[f.length - 1]) {
        e.preventDefault();
        f[e.shiftKey ? f.length - 1 : 0].focus();
      }
    }
  });
  // keep focus inside while modal, wherever it tries to go
  document.addEventListener('focusin', (e) => {
    if (_modal && _layer && e.target != host) _dlg.focus();
  });
  document.body.append(host);
}
