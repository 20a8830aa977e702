// What the browser keeps: the receipt token in the first-party cookie cmp_consent, a choice
// not yet acknowledged by the server in localStorage, and the removal of a revoked
// vendor's cookies and storage keys.
import { _now } from './state.js';

const _COOKIE = 'cmp_consent';
const _PENDING = 'cmp_pending';

export const _readToken = () => {
  const m = document.cookie.match(/(?:^|; )cmp_consent=([\w.-]+)/);
  return m && m[1];
};

// The token is base64url(JSON claims) "." signature: the banner reads its own claims, the
// server verifies the signature.
export const _claims = (token) => {
  try {
    return JSON.parse(atob(token.split('.')[0].replace(/-/g, '+').replace(/_/g, '/')));
  } catch (e) {
    return null;
  }
};

export const _saveToken = (token, expires) => {
  document.cookie =
    `${_COOKIE}=${token}; Path=/; Max-Age=${Math.max(0, expires - _now())}; SameSite=Lax` +
    (location.protocol == 'https:' ? '; Secure' : '');
};

export const _forgetToken = () => _saveToken('', 0);

export const _pending = (value) => {
  try {
    if (value === undefined) return JSON.parse(localStorage.getItem(_PENDING));
    value ? localStorage.setItem(_PENDING, JSON.stringify(value)) : localStorage.removeItem(_PENDING);
  } catch (e) {
    return null; // storage disabled: the choice still applies to this page view
  }
};

const _glob = (name) =>
  new RegExp('^' + name.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');

const _cookieNames = () => document.cookie.split('; ').map((c) => c.split('=')[0]);

// Delete the vendors' first-party cookies (host-only, the page's domain and each parent
// domain) and storage keys; answer what is still there afterwards.
export function _purge(vendors) {
  const host = location.hostname;
  const parts = host.split('.');
  const domains = [''];
  if (!/^[\d.]+$|:/.test(host))
    for (let i = 0; i < parts.length - 1; i++) domains.push('; Domain=.' + parts.slice(i).join('.'));
  const left = [];
  for (const vendor of vendors)
    for (const c of vendor.cookies || []) {
      if (c.domain != 'first_party' && !('.' + host).endsWith(c.domain)) continue; // a third party's own cookie
      const re = c.match == 'glob' ? _glob(c.name) : null;
      const hit = (n) => !n.startsWith('cmp_') && (re ? re.test(n) : n == c.name); // never the banner's own
      try {
        if (c.storage == 'cookie') {
          for (const n of _cookieNames().filter(hit))
            for (const d of domains) document.cookie = `${n}=; Max-Age=0; Path=/${d}`;
          left.push(..._cookieNames().filter(hit));
        } else {
          const store = c.storage == 'local_storage' ? localStorage : sessionStorage;
          for (const k of Object.keys(store)) if (hit(k)) store.removeItem(k);
          left.push(...Object.keys(store).filter(hit));
        }
      } catch (e) {
        // storage not accessible: nothing of it to delete
      }
    }
  return left;
}
