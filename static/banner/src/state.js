// The one state object the modules share. Internal names start with _ so the minifier
// can shorten them; anything persisted (cookie, localStorage) uses fixed short keys.
export const _s = {
  _site: '',
  _origin: '',
  _nonce: '',
  _auto: false,
  _config: null, // the banner document from the API, once it has arrived
  _p: {}, // purpose id -> true when granted
  _g: {}, // vendor id -> true when granted
  _choice: null, // the stored choice {p, g, q, e, r, st}: from the cookie or a pending send
  _gpc: navigator.globalPrivacyControl === true,
};

// A data-cmp-vendor / data-cmp-purpose value may list several ids: any granted one will do.
export const _any = (ids) => ids.split(/\s+/).some((id) => _s._p[id] || _s._g[id]);

export const _now = () => Math.floor(Date.now() / 1000);
