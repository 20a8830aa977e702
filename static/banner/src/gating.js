// Holding back and releasing what needs consent:
// - <script type="text/plain" data-cmp-vendor|data-cmp-purpose> (external and inline) run
//   once granted, one after the other in document order, with the tag's CSP nonce;
// - <iframe|img data-cmp-src> get their src once granted, and lose it when revoked;
// - elements added later are handled too (MutationObserver);
// - with data-blocking="auto", scripts loading from a vendor's catalogue hosts are held
//   back without any markup (see _autoBlock for how, and for the limits).
import { _s, _any } from './state.js';

const _SEL =
  'script[type="text/plain"][data-cmp-vendor],script[type="text/plain"][data-cmp-purpose],script[data-cmp-held],[data-cmp-src]';
const _done = new WeakSet(); // gated elements released (or loaded) already
const _mine = new WeakSet(); // scripts the banner created itself: never held back
let _chain = Promise.resolve(); // scripts run one after the other
let _setType; // HTMLScriptElement's own type setter

const _host = (src) => {
  try {
    const u = new URL(src, location.href);
    return u.origin != location.origin && u.origin != _s._origin && u.hostname;
  } catch (e) {
    return '';
  }
};

// ids of the consent vendors whose catalogue hosts include host ("*.x.com": subdomains)
const _vendorsFor = (host) =>
  _s._config.vendors
    .filter((v) => v.legal_basis == 'consent' && v.hosts.some((h) => (h[0] == '*' ? host.endsWith(h.slice(1)) : host == h)))
    .map((v) => v.id)
    .join(' ');

function _allowed(el) {
  if (el.hasAttribute('data-cmp-held')) {
    // held while the catalogue was unknown: now decide whose it is ("" when nobody's)
    if (!_s._config) return false;
    el.setAttribute('data-cmp-vendor', _vendorsFor(_host(el.src) || ''));
    el.removeAttribute('data-cmp-held');
  }
  const v = el.getAttribute('data-cmp-vendor');
  const p = el.getAttribute('data-cmp-purpose');
  return (!v || _any(v)) && (!p || _any(p));
}

// A held script cannot be switched back on: it is replaced by a fresh copy that runs.
const _run = (old) =>
  new Promise((done) => {
    if (!old.isConnected) return done();
    const s = document.createElement('script');
    _mine.add(s);
    for (const a of old.attributes) if (!/^(type|data-cmp-type)$/.test(a.name)) s.setAttribute(a.name, a.value);
    const type = old.getAttribute('data-cmp-type');
    if (type) s.type = type;
    if (_s._nonce) s.nonce = _s._nonce;
    const external = old.hasAttribute('src');
    if (external) s.onload = s.onerror = done;
    else s.text = old.text;
    old.replaceWith(s);
    if (!external) done();
  });

export function _scan() {
  for (const el of document.querySelectorAll(_SEL)) {
    const on = _allowed(el);
    if (el.tagName == 'SCRIPT') {
      if (on && !_done.has(el)) {
        _done.add(el);
        _chain = _chain.then(() => _run(el));
      }
    } else if (on != _done.has(el)) {
      if (on) {
        _done.add(el);
        el.src = el.getAttribute('data-cmp-src');
      } else {
        // revoked: unload the frame, drop the image
        _done.delete(el);
        el.tagName == 'IFRAME' ? (el.src = 'about:blank') : el.removeAttribute('src');
      }
    }
  }
}

function _hold(s) {
  if (_mine.has(s) || s.hasAttribute('data-cmp-auto') || !/^(|text\/javascript|application\/javascript|module)$/i.test(s.type)) return;
  const host = _host(s.src);
  if (!host) return;
  const ids = _s._config ? _vendorsFor(host) : null;
  if (ids === '' || (ids && _any(ids))) return; // nobody's host, or granted
  if (s.type) s.setAttribute('data-cmp-type', s.type);
  _setType.call(s, 'text/plain');
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
export function _autoBlock() {
  const P = HTMLScriptElement.prototype;
  const src = Object.getOwnPropertyDescriptor(P, 'src');
  const type = Object.getOwnPropertyDescriptor(P, 'type');
  const setAttribute = P.setAttribute;
  _setType = type.set;
  Object.defineProperty(P, 'src', {
    ...src,
    set(v) {
      src.set.call(this, v);
      _hold(this);
    },
  });
  Object.defineProperty(P, 'type', {
    ...type,
    set(v) {
      this.hasAttribute('data-cmp-auto') && !_mine.has(this) ? this.setAttribute('data-cmp-type', v) : _setType.call(this, v);
    },
  });
  P.setAttribute = function (n, v) {
    setAttribute.call(this, n, v);
    if (/^src$/i.test(n)) _hold(this);
  };
}

export function _watch() {
  new MutationObserver((records) => {
    let dirty = 0;
    for (const r of records)
      for (const n of r.addedNodes)
        if (n.nodeType == 1) {
          if (_s._auto && n.tagName == 'SCRIPT') _hold(n);
          if (n.matches(_SEL) || n.querySelector(_SEL)) dirty = 1;
        }
    if (dirty) _scan();
  }).observe(document.documentElement, { childList: true, subtree: true });
  _scan();
}
