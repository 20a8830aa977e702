// Builds dist/cmp.js (CSS inlined), a content-hashed copy dist/cmp.<hash>.js, each module
// of src/modules/ as dist/m/<name>.<hash>.js (what only some pages need; the core loads it
// there) and dist/manifest.json for the app, after checking that src/strings.json (which
// the server sends in each banner configuration) has every string in every language.
// Prints raw, gzip and brotli sizes; exits non-zero over the budget.
import { build, transform } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const BUDGET_GZIP = 6 * 1024; // JS and CSS together
const here = (path) => new URL(path, import.meta.url);
const sha = (data) => createHash('sha256').update(data).digest('hex');

const strings = JSON.parse(readFileSync(here('src/strings.json'), 'utf8'));
const LANGUAGES = Object.keys(strings); // the one list of the banner's languages (the server reads it too)
const keys = Object.keys(strings.en);
const problems = LANGUAGES.flatMap((lang) =>
  !strings[lang] ? [`${lang}: missing`] : keys.filter((k) => !strings[lang][k]).map((k) => `${lang}.${k}: missing`),
);
if (problems.length) {
  console.error('src/strings.json is incomplete:\n  ' + problems.join('\n  '));
  process.exit(1);
}

// The stored formats' short keys: the token's claims (cmp_server/consent/receipts.py,
// token_for) and the pending choice in localStorage. The source names them in full
// (src/state.js: Choice, PendingChoice); the build writes each name as its key.
const STORED_KEYS = {
  _receiptId: 'r',
  _siteKey: 'k',
  _state: 'st',
  _expires: 'e',
  _issuedAt: 't',
  _purposes: 'p',
  _vendors: 'g',
  _scope: 'q',
  _body: 'b',
  _choice: 'c',
  _savedAt: 'n',
};

// The core's side of its interface with the modules (window.cmp._core and what they read
// and register there): fixed names, so that a module and a core of different builds (a
// cached cmp.js during a deploy, a page pinning cmp.<hash>.js) still meet. A module may
// use no other of the core's properties (checked below).
const CORE_KEYS = {
  _core: 'Co',
  _shared: 'Sh',
  _choose: 'Ch',
  _hide: 'Hi',
  _addStyles: 'As',
  _modules: 'Mo',
  _grants: 'Gr',
  _asking: 'Ak',
  _loadsDenied: 'Ld',
  _config: 'Cf',
  _grantedPurposes: 'Gp',
  _grantedVendors: 'Gv',
  _cmpOrigin: 'Or',
  _preview: 'Pv',
  _gcmRemembered: 'Gm',
  _settingsPart: 'Sp',
  _gpc: 'Gc',
};

const pinned = [...Object.entries(STORED_KEYS), ...Object.entries(CORE_KEYS)];
if (new Set(pinned.map(([k]) => k)).size < pinned.length || new Set(pinned.map(([, v]) => v)).size < pinned.length) {
  console.error('STORED_KEYS and CORE_KEYS must not share a name or a short name');
  process.exit(1);
}

const MODULES = ['settings', 'theme', 'embeds', 'google', 'microsoft', 'button', 'tcf', 'gpp']; // src/modules/<name>.js, with its styles in <name>.css

const minifiedCss = async (path) =>
  (await transform(readFileSync(here(path), 'utf8'), { loader: 'css', minify: true })).code.trim();

// Modules share the core's objects (window.cmp._core), so they are built with the core's
// names for the properties the minifier shortens: the core's mangle cache.
const bundle = async (entry, css, mangleCache) => {
  const result = await build({
    entryPoints: [here(entry).pathname],
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['chrome90', 'firefox90', 'safari15'],
    mangleProps: /^_/, // internal names start with _
    reserveProps: /^__/, // ...but not the page's APIs: __tcfapi, __tcfapiLocator, __gpp...
    mangleCache,
    legalComments: 'none',
    write: false,
    define: { __CMP_CSS__: JSON.stringify(css), __CMP_MODULE_CSS__: JSON.stringify(css) },
  });
  const js = Buffer.from(result.outputFiles[0].contents);
  return { js, hash: sha(js).slice(0, 16), mangleCache: result.mangleCache };
};
const sizesOf = (js) => ({
  raw: js.length,
  gzip: gzipSync(js, { level: 9 }).length,
  brotli: brotliCompressSync(js, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
});

const core = await bundle('src/main.js', await minifiedCss('src/style.css'), { ...STORED_KEYS, ...CORE_KEYS });
const dist = here('dist/');
rmSync(dist, { recursive: true, force: true });
mkdirSync(here('dist/m/'), { recursive: true });
writeFileSync(here('dist/cmp.js'), core.js);
writeFileSync(here(`dist/cmp.${core.hash}.js`), core.js);
const modules = {};
for (const name of MODULES) {
  const styles = `src/modules/${name}.css`;
  const source = readFileSync(here(`src/modules/${name}.js`), 'utf8');
  const outside = [...source.matchAll(/\.(_[a-z]\w*)/g)].map((m) => m[1]).filter((k) => !(k in CORE_KEYS) && !(k in STORED_KEYS));
  if (outside.length) {
    console.error(`src/modules/${name}.js uses the core's ${[...new Set(outside)].join(', ')}: add them to CORE_KEYS`);
    process.exit(1);
  }
  const module = await bundle(`src/modules/${name}.js`, existsSync(here(styles)) ? await minifiedCss(styles) : '', core.mangleCache);
  const file = `${name}.${module.hash}.js`;
  writeFileSync(here(`dist/m/${file}`), module.js);
  modules[name] = { file, sizes: sizesOf(module.js) };
}

// The stubs a page may paste before its ad scripts (the TCF and GPP modules install them too).
for (const [file, install] of [['tcf-stub.js', 'installTcfStub'], ['gpp-stub.js', 'installGppStub']]) {
  const stub = await build({
    stdin: { contents: `import { ${install} } from './stubs.js'; ${install}();`, resolveDir: here('src/').pathname },
    bundle: true, minify: true, format: 'iife', target: ['chrome90', 'firefox90', 'safari15'], write: false,
  });
  writeFileSync(here(`dist/${file}`), stub.outputFiles[0].contents);
}

const sizes = sizesOf(core.js);
writeFileSync(
  here('dist/manifest.json'),
  JSON.stringify({ file: `cmp.${core.hash}.js`, hash: core.hash, sizes, budget_gzip: BUDGET_GZIP, modules }, null, 1),
);
const kb = (n) => (n / 1024).toFixed(2) + ' KB';
const line = (s) => `raw ${kb(s.raw)}   gzip ${kb(s.gzip)}   brotli ${kb(s.brotli)}`;
console.log(`dist/cmp.js (JS + CSS, = dist/cmp.${core.hash}.js)`);
console.log(`  ${line(sizes)}   (budget: ${kb(BUDGET_GZIP)} gzip)`);
for (const [name, { file, sizes }] of Object.entries(modules)) console.log(`dist/m/${file} (module ${name})\n  ${line(sizes)}`);
console.log(`src/strings.json: ${LANGUAGES.length} languages, ${keys.length} strings each`);
if (sizes.gzip > BUDGET_GZIP) {
  console.error(`over budget: ${sizes.gzip} bytes gzip > ${BUDGET_GZIP}`);
  process.exit(1);
}
