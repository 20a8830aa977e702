// Holding back and releasing what needs consent:
// - <script type="text/plain" data-cmp-vendor|data-cmp-purpose> (external and inline) run
//   once granted, one after the other in document order, with the tag's CSP nonce;
// - <iframe|img data-cmp-src> get their src once granted, and lose it when revoked;
// - elements added later are handled too (MutationObserver);
// - with data-blocking="auto", scripts loading from a vendor's catalogue hosts are held
//   back without any markup (see blockAutomatically for how, and for the limits).
import { state, anyGranted } from './state.js';
import { loadModule, loadedModules } from './modules.js';

const GATED =
  'script[type="text/plain"]:is([data-cmp-vendor],[data-cmp-purpose]),script[data-cmp-held],[data-cmp-src]';
const released = new WeakSet(); // gated elements released (or loaded) already
const ownScripts = new WeakSet(); // scripts the banner created itself: never held back
let runQueue = Promise.resolve(); // scripts run one after the other
let setScriptType; // HTMLScriptElement's own type setter

// an advanced Google Consent Mode site's Google scripts load at once (the google module)
const loadsDenied = (el, ids) => !!(loadedModules.google && loadedModules.google._loadsDenied(el, ids));

const thirdPartyHost = (src) => {
  try {
    const u = new URL(src, location.href);
    return u.origin != location.origin && u.origin != state._cmpOrigin && u.hostname;
  } catch (e) {
    return '';
  }
};

// ids of the consent vendors whose catalogue hosts include host ("*.x.com": subdomains)
const vendorsOfHost = (host) =>
  state._config.vendors
    .filter((v) => v.legal_basis == 'consent' && v.hosts.some((h) => (h[0] == '*' ? host.endsWith(h.slice(1)) : host == h)))
    .map((v) => v.id)
    .join(' ');

function isGranted(el) {
  if (el.hasAttribute('data-cmp-held')) {
    // held while the catalogue was unknown: now decide whose it is ("" when nobody's)
    if (!state._config) return false;
    el.setAttribute('data-cmp-vendor', vendorsOfHost(thirdPartyHost(el.src) || ''));
    el.removeAttribute('data-cmp-held');
  }
  const v = el.getAttribute('data-cmp-vendor');
  const p = el.getAttribute('data-cmp-purpose');
  return (!v || anyGranted(v) || loadsDenied(el, v)) && (!p || anyGranted(p));
}

// A held script cannot be switched back on: it is replaced by a fresh copy that runs.
const runScript = (old) =>
  new Promise((done) => {
    if (!old.isConnected) return done();
    const s = document.createElement('script');
    ownScripts.add(s);
    for (const a of old.attributes) if (!/^(type|data-cmp-type)$/.test(a.name)) s.setAttribute(a.name, a.value);
    const type = old.getAttribute('data-cmp-type');
    if (type) s.type = type;
    if (state._nonce) s.nonce = state._nonce;
    const external = old.hasAttribute('src');
    if (external) s.onload = s.onerror = done;
    else s.text = old.text;
    old.replaceWith(s);
    if (!external) done();
  });

export function releaseGranted() {
  for (const el of document.querySelectorAll(GATED)) {
    const on = isGranted(el);
    if (el.tagName == 'SCRIPT') {
      if (on && !released.has(el)) {
        released.add(el);
        runQueue = runQueue.then(() => runScript(el));
      }
    } else {
      if (!on && el.tagName == 'IFRAME') loadModule('embeds'); // its click-to-load placeholder
      if (on != released.has(el)) {
        if (on) {
          released.add(el);
          el.src = el.getAttribute('data-cmp-src');
        } else {
          // revoked: unload the frame, drop the image
          released.delete(el);
          el.tagName == 'IFRAME' ? (el.src = 'about:blank') : el.removeAttribute('src');
        }
      }
    }
  }
}

function holdBack(s) {
  if (ownScripts.has(s) || s.hasAttribute('data-cmp-auto') || !/^(|text\/javascript|application\/javascript|module)$/i.test(s.type)) return;
  const host = thirdPartyHost(s.src);
  if (!host) return;
  const ids = state._config ? vendorsOfHost(host) : null;
  if (ids === '' || (ids && (anyGranted(ids) || loadsDenied(s, ids)))) return; // nobody's host, granted, or loads denied
  if (s.type) s.setAttribute('data-cmp-type', s.type);
  setScriptType.call(s, 'text/plain');
  s.setAttribute('data-cmp-auto', '');
  // before the configuration arrives every third-party script is held (fail closed)
  ids ? s.setAttribute('data-cmp-vendor', ids) : s.setAttribute('data-cmp-held', '');
}

// Automatic blocking, for a tag loaded synchronously as the first script in <head>:
// - scripts the parser inserts: the MutationObserver callback runs before the parser
//   prepares each script, so rewriting its type to text/plain keeps it from running;
// - scripts made with document.createElement: the src setter and setAttribute("src") are
//   patched to rewrite the type before the element is inserted, and a later type
//   assignment is kept in data-cmp-type instead.
// Limits: a script already running or made before this tag, a host the catalogue does
// not list, inline code, fetch/XHR/beacons and pixels are not held back by this; those
// need the explicit markup.
export function blockAutomatically() {
  const P = HTMLScriptElement.prototype;
  const src = Object.getOwnPropertyDescriptor(P, 'src');
  const type = Object.getOwnPropertyDescriptor(P, 'type');
  const setAttribute = P.setAttribute;
  setScriptType = type.set;
  Object.defineProperty(P, 'src', {
    ...src,
    set(v) {
      src.set.call(this, v);
      holdBack(this);
    },
  });
  Object.defineProperty(P, 'type', {
    ...type,
    set(v) {
      this.hasAttribute('data-cmp-auto') && !ownScripts.has(this) ? this.setAttribute('data-cmp-type', v) : setScriptType.call(this, v);
    },
  });
  P.setAttribute = function (n, v) {
    setAttribute.call(this, n, v);
    if (/^src$/i.test(n)) holdBack(this);
  };
}

export function watchForGated() {
  new MutationObserver((records) => {
    let dirty = 0;
    for (const r of records)
      for (const n of r.addedNodes)
        if (n.nodeType == 1) {
          if (state._autoBlocking && n.tagName == 'SCRIPT') holdBack(n);
          if (n.matches(GATED) || n.querySelector(GATED)) dirty = 1;
        }
    if (dirty) releaseGranted();
  }).observe(document.documentElement, { childList: true, subtree: true });
  releaseGranted();
}
