// What only some pages need is a module (src/modules/), loaded once where it is needed
// from the URL the configuration names (its content hash in it), with the tag's nonce.
// A module reaches the core through window.cmp._core (main.js).
import { state } from './state.js';

const loaded = {};

export function loadModule(name) {
  const path = (state._config && (state._config.modules || {})[name]) || '';
  if (!/^\/banner\/m\/[a-z]+\.[0-9a-f]{16}\.js$/.test(path) || loaded[name]) return;
  loaded[name] = 1;
  const s = document.createElement('script');
  s.src = state._cmpOrigin + path;
  if (state._nonce) s.nonce = state._nonce;
  document.head.append(s);
}
