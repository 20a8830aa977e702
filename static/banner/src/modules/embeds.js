// Click-to-load placeholders for held-back frames (<iframe data-cmp-src data-cmp-vendor>),
// loaded by the core tag only on pages that have one. In the frame's place, sized like it:
// the vendor, what loading it means, "Load once" (this frame, nothing recorded) and
// "Always allow VENDOR" (a custom choice adding the vendor and its purposes, recorded as
// any choice). Nothing is requested from the vendor before either. The placeholder
// carries data-cmp-placeholder="VENDOR_ID"; its content is in a shadow root, so the page's
// CSS cannot break it.
/* global __CMP_MODULE_CSS__ */
import { escapeHtml, safeUrl } from '../html.js';

const core = window.cmp._core;
const state = core._shared;
const text = state._config.strings;
const fill = (template, name) => escapeHtml(template).replace('{v}', () => `<b>${escapeHtml(name)}</b>`);
const held = new Map(); // frame -> its placeholder
const once = new WeakSet(); // frames loaded once

const vendorOf = (frame) => {
  const ids = (frame.getAttribute('data-cmp-vendor') || '').split(/\s+/);
  return state._config.vendors.find((v) => ids.includes(v.id));
};
const granted = (frame) => {
  const ids = [frame.getAttribute('data-cmp-vendor'), frame.getAttribute('data-cmp-purpose')].filter(Boolean);
  return ids.every((list) => list.split(/\s+/).some((id) => window.cmp.hasConsent(id)));
};

function placeholder(frame, vendor) {
  const box = frame.getBoundingClientRect();
  const el = document.createElement('div');
  el.setAttribute('data-cmp-placeholder', vendor.id);
  el.style.cssText = `display:block;box-sizing:border-box;width:${Math.round(box.width) || 560}px;min-height:${Math.round(box.height) || 315}px`;
  const root = el.attachShadow({ mode: 'open' });
  root.innerHTML =
    `<div class="p" role="group" aria-label="${escapeHtml(vendor.name)}"><p class="n">${escapeHtml(vendor.name)}</p>` +
    `<p>${fill(text.embed, vendor.name)}</p><div class="a">` +
    `<button type="button" data-a="once">${escapeHtml(text.once)}</button>` +
    `<button type="button" data-a="allow">${fill(text.allow, vendor.name)}</button></div>` +
    `<a href="${safeUrl(vendor.policy_url)}" target="_blank" rel="noopener">${escapeHtml(text.policy)}</a></div>`;
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(__CMP_MODULE_CSS__);
  root.adoptedStyleSheets = [sheet];
  root.addEventListener('click', (e) => {
    const action = e.target.closest('[data-a]');
    if (!action) return;
    if (action.getAttribute('data-a') == 'once') {
      once.add(frame);
      frame.src = frame.getAttribute('data-cmp-src');
      unhold(frame);
    } else allow(vendor);
  });
  return el;
}

function hold(frame) {
  const vendor = vendorOf(frame);
  if (!vendor || held.has(frame) || once.has(frame) || granted(frame)) return;
  const el = placeholder(frame, vendor);
  held.set(frame, el);
  frame.before(el);
  frame.style.setProperty('display', 'none', 'important');
}

function unhold(frame) {
  held.get(frame).remove();
  held.delete(frame);
  frame.style.removeProperty('display');
}

// "Always allow": everything already allowed, and this vendor with every purpose it needs.
function allow(vendor) {
  core._choose('custom', 'placeholder', {
    _purposes: [...Object.keys(state._grantedPurposes), ...vendor.purposes],
    _vendors: [...Object.keys(state._grantedVendors), vendor.id],
  });
  core._hide();
}

function sync() {
  for (const frame of [...held.keys()]) if (granted(frame) || !frame.isConnected) unhold(frame);
  for (const frame of document.querySelectorAll('iframe[data-cmp-src]')) hold(frame);
}

sync();
document.addEventListener('cmp:consent', sync);
new MutationObserver(sync).observe(document.documentElement, { childList: true, subtree: true });
