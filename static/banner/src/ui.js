// The banner: a dialog in an open shadow root on <div id="cmp-root">, so the host page's
// CSS cannot reach it. Layer 1 asks (Reject all and Accept all side by side, same style);
// layer 2 lists each purpose and, under it, its vendors. Fixed position: the host page's
// layout never moves.
import { state } from './state.js';
import { escapeHtml, button, policyLink } from './html.js';
import { loadModule, loadedModules } from './modules.js';

/* global __CMP_CSS__ */
let shadow, dialog, backdrop, text, onAction;
let shownLayer = 0; // 0 hidden, 1 first layer, 2 settings
let isModal = false;
let firstLayerAs = null; // how layer 1 was shown, to go back to it with Escape
let focusBefore = null; // what had focus before the banner took it

function firstLayer(notice) {
  const c = state._config;
  return (
    `<h2 id="cmp-t">${escapeHtml(text.title)}</h2><p id="cmp-d">${escapeHtml(text.intro)}</p>` +
    (state._gpc ? `<p class="gpc">${escapeHtml(text.gpc)}</p>` : '') +
    `<p>${escapeHtml(c.controller && c.controller.name)} · ${policyLink(c.policy_url, text.policy)}</p><div class="bar">` +
    (notice ? button('close', text.ok) : button('reject-all', text.reject) + button('accept-all', text.accept)) +
    button('customize', text.customize) + '</div>'
  );
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
  const settings = loadedModules.settings;
  if (layer == 2 && !settings) return loadModule('settings').then(() => loadedModules.settings && show(2, modal));
  if (!shownLayer) focusBefore = document.activeElement;
  if (layer == 1) firstLayerAs = [modal, notice];
  else if (shownLayer != 1) firstLayerAs = null;
  shownLayer = layer;
  isModal = modal || layer == 2;
  layer == 1 ? (dialog.innerHTML = firstLayer(notice)) : settings(dialog, firstLayerAs);
  dialog.className = 'l' + layer;
  layer == 1 ? dialog.setAttribute('aria-describedby', 'cmp-d') : dialog.removeAttribute('aria-describedby');
  isModal ? dialog.setAttribute('aria-modal', 'true') : dialog.removeAttribute('aria-modal');
  dialog.hidden = false;
  backdrop.hidden = !isModal;
  if (isModal) dialog.focus();
  loadModule('settings'); // there before the visitor asks for it
}

export function hide() {
  if (!shownLayer) return;
  shownLayer = 0;
  firstLayerAs = null;
  dialog.hidden = backdrop.hidden = true;
  dialog.innerHTML = '';
  if (isModal && focusBefore && focusBefore.focus) focusBefore.focus();
}

// A constructed stylesheet: CSP's style-src does not apply to it, so the banner is styled
// on pages whose policy has neither 'unsafe-inline' nor a nonce for styles. Browsers
// without adoptedStyleSheets (Safari < 16.4) get a <style> with the tag's nonce. The
// modules add theirs the same way (those loaded before the banner is put up, with its own).
const stylesBefore = [];
export function addStyles(css) {
  if (!shadow) return stylesBefore.push(css);
  else if (shadow.adoptedStyleSheets) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, sheet];
  } else {
    const style = document.createElement('style');
    style.nonce = state._nonce;
    style.textContent = css;
    shadow.append(style);
  }
  return shadow;
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
  host.lang = state._language; // the banner's own language and direction, whatever the page's
  host.dir = state._config.dir;
  const theme = state._config.theme || {};
  for (const [k, v] of Object.entries(theme)) host.style.setProperty('--cmp-' + k, v); // names the server checked
  // the layout and light or dark, as attributes the stylesheet reads
  host.setAttribute('data-layout', theme.layout || 'box');
  if (theme.scheme == 'dark' || (theme.scheme == 'auto' && matchMedia('(prefers-color-scheme: dark)').matches))
    host.setAttribute('data-dark', '');
  shadow = host.attachShadow({ mode: 'open' });
  shadow.innerHTML =
    '<div class="bd" hidden></div><div id="cmp-banner" role="dialog" aria-labelledby="cmp-t" tabindex="-1" hidden></div>';
  [__CMP_CSS__, ...stylesBefore].map(addStyles);
  [backdrop, dialog] = shadow.children;
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
