// What only some pages need is a module (src/modules/), loaded once where it is needed
// from the URL the configuration names (its content hash in it), with the tag's nonce.
// A module reaches the core through window.cmp._core (main.js) and puts what the core
// calls into loadedModules under its name.
import { state } from './state.js';

export const loadedModules = {};
const loading = {};

// resolves once the module has run, or failed to load (then loadedModules lacks it)
export function loadModule(name) {
  const path = state._config && state._config.modules[name]; // none before the configuration
  if (!loading[name] && /^\/banner\/m\/[\w.]+$/.test(path))
    loading[name] = new Promise((done) => {
      const s = document.createElement('script');
      s.src = state._cmpOrigin + path;
      s.nonce = state._nonce;
      s.onload = done;
      s.onerror = () => done(delete loading[name]); // asked for again, tried again
      document.head.append(s);
    });
  return loading[name] || Promise.resolve();
}
