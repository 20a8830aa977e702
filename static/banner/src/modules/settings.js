// The settings layer: each purpose and, under it, its vendors with their facts, a switch
// for each, and the visitor's consent id. A module: the core loads it when the first
// layer shows (so it is there when asked for) or when the settings are opened directly.
/* global __CMP_MODULE_CSS__ */
import { escapeHtml, button, policyLink } from '../html.js';
import { readToken, tokenClaims } from '../store.js';

const core = window.cmp._core;
const state = core._shared;
const text = state._config.strings;

const toggleSwitch = (kind, id, on, locked, label) =>
  `<input type="checkbox" role="switch" data-cmp-${kind}-toggle="${escapeHtml(id)}" aria-label="${escapeHtml(label)}"` +
  (on || locked ? ' checked' : '') + (locked ? ' disabled' : '') + '>';
const STORAGE_NAMES = { cookie: 'cookie', local_storage: 'localStorage', session_storage: 'sessionStorage' };
const lifetime = (l) => (l == 'session' ? text.session : l == 'persistent' ? text.persistent : `${l} ${text.days}`);
// a catalogue text the display's language lacks is left out (the server sends none)
const sentence = (x) => (x ? ' ' + escapeHtml(x) : '');

// A vendor is listed under each of its purposes; one that needs several says which.
const vendorRow = (v) => {
  const h = v.hosting || {};
  const names = state._config.purposes.filter((p) => !p.required && v.purposes.includes(p.id)).map((p) => p.name);
  return (
    `<div class="row v"><details><summary>${escapeHtml(v.name)}` +
    (v.legal_basis == 'consent' && names.length > 1 ? `<small class="needs">${escapeHtml(text.needs)}: ${escapeHtml(names.join(', '))}</small>` : '') +
    `</summary><p>${escapeHtml(v.company.replace(/\.?$/, '.'))}${sentence(v.description)}</p><dl>` +
    `<dt>${escapeHtml(text.retention)}</dt><dd>${v.retention_months ? escapeHtml(v.retention_months) + ' ' + escapeHtml(text.months) : escapeHtml(text.session)}</dd>` +
    `<dt>${escapeHtml(text.hosting)}</dt><dd>${escapeHtml((h.locations || []).join(', '))}${h.safeguards ? ' (' + escapeHtml(h.safeguards) + ')' : ''}</dd>` +
    (v.cookies.length
      ? `<dt>${escapeHtml(text.cookies)}</dt><dd><ul>` +
        v.cookies.map((k) => `<li><code>${escapeHtml(k.name)}</code> ${STORAGE_NAMES[k.storage]}, ${escapeHtml(lifetime(k.lifetime))}${k.description ? ': ' + escapeHtml(k.description) : ''}</li>`).join('') +
        '</ul></dd>'
      : '') +
    `</dl>${policyLink(v.policy_url, text.policy)}</details>${toggleSwitch('vendor', v.id, state._grantedVendors[v.id], v.legal_basis != 'consent', v.name)}</div>`
  );
};

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

// withBack: the way back to the first layer, else a way out; the choice stays unmade either way
const settingsLayer = (withBack) => {
  const c = state._config;
  return (
    `<div class="row"><h2 id="cmp-t">${escapeHtml(text.settings)}</h2>` +
    (withBack ? `<button type="button" class="x" data-cmp-action="back">${escapeHtml(text.back)}</button>` : `<button type="button" class="x" data-cmp-action="close">${escapeHtml(text.close)}</button>`) +
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
};

// A vendor is on only while every purpose it needs is on: switching a purpose sets its
// vendors accordingly; switching a vendor on switches on every purpose it needs. A
// vendor listed under several purposes has one switch in each, kept alike.
function keepSwitchesAlike(e) {
  const el = e.target;
  const toggle = (kind, id) => [...e.currentTarget.querySelectorAll(`[data-cmp-${kind}-toggle="${CSS.escape(id)}"]`)];
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
}

core._addStyles(__CMP_MODULE_CSS__);
core._modules.settings = (dialog, withBack) => {
  dialog.innerHTML = settingsLayer(withBack);
  for (const m of Object.values(core._modules)) if (m._settingsPart) m._settingsPart(dialog); // the TCF's part
  dialog.onchange = keepSwitchesAlike;
};
