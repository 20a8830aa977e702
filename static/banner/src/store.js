// What the browser keeps: the receipt token in the first-party cookie cmp_consent, a choice
// not yet acknowledged by the server in localStorage, and the removal of a revoked
// vendor's cookies and storage keys.
import { nowSeconds } from './state.js';

const COOKIE = 'cmp_consent';
const PENDING = 'cmp_pending';

export const readToken = () => {
  const m = document.cookie.match(/(?:^|; )cmp_consent=([\w.-]+)/);
  return m && m[1];
};

/**
 * The token is base64url(JSON claims) "." signature: the banner reads its own claims, the
 * server verifies the signature.
 * @returns {import('./state.js').Choice | null}
 */
export const tokenClaims = (token) => {
  try {
    return JSON.parse(atob(token.split('.')[0].replace(/-/g, '+').replace(/_/g, '/')));
  } catch (e) {
    return null;
  }
};

export const saveToken = (token, expires) => {
  document.cookie =
    `${COOKIE}=${token}; Path=/; Max-Age=${Math.max(0, expires - nowSeconds())}; SameSite=Lax` +
    (location.protocol == 'https:' ? '; Secure' : '');
};

export const forgetToken = () => saveToken('', 0);

/**
 * The pending choice: read (no argument), replace, or clear (null).
 * @param {import('./state.js').PendingChoice | null} [value]
 * @returns {import('./state.js').PendingChoice | null | undefined}
 */
export const pendingChoice = (value) => {
  try {
    if (value === undefined) return JSON.parse(localStorage.getItem(PENDING));
    value ? localStorage.setItem(PENDING, JSON.stringify(value)) : localStorage.removeItem(PENDING);
  } catch (e) {
    return null; // storage disabled: the choice still applies to this page view
  }
};

const cookieNames = () => document.cookie.split('; ').map((c) => c.split('=')[0]);

// Delete the vendors' first-party cookies (host-only, the page's domain and each parent
// domain) and storage keys. What cannot be deleted from here (HttpOnly, another path, a
// third party's) the scanner reports.
export function deleteVendorStorage(vendors) {
  const host = location.hostname;
  const labels = host.split('.');
  const domains = [''];
  if (!/^[\d.]+$|:/.test(host))
    for (let i = 0; i < labels.length - 1; i++) domains.push('; Domain=.' + labels.slice(i).join('.'));
  for (const vendor of vendors)
    for (const c of vendor.cookies || []) {
      if (c.domain != 'first_party' && !('.' + host).endsWith(c.domain)) continue; // a third party's own cookie
      try {
        const pattern = c.pattern && new RegExp(c.pattern); // a glob, as the server writes it
        const isIt = (n) => !n.startsWith('cmp_') && (pattern ? pattern.test(n) : n == c.name); // never the banner's own
        if (c.storage == 'cookie') {
          for (const n of cookieNames().filter(isIt))
            for (const d of domains) document.cookie = `${n}=; Max-Age=0; Path=/${d}`;
        } else {
          const storage = c.storage == 'local_storage' ? localStorage : sessionStorage;
          for (const k of Object.keys(storage)) if (isIt(k)) storage.removeItem(k);
        }
      } catch (e) {
        // storage not accessible, or a pattern this browser cannot compile: nothing to delete
      }
    }
}
