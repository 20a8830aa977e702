// Builds dist/cmp.js (CSS inlined), a content-hashed copy dist/cmp.<hash>.js, the UI
// strings as one JSON file per language in dist/i18n/, and dist/manifest.json for the app.
// Prints raw, gzip and brotli sizes; exits non-zero over the budget.
import { build, transform } from 'esbuild';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const BUDGET_GZIP = 8 * 1024; // JS and CSS together
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
const i18nHash = sha(JSON.stringify(strings)).slice(0, 12);

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

const css = (await transform(readFileSync(here('src/style.css'), 'utf8'), { loader: 'css', minify: true })).code.trim();
const result = await build({
  entryPoints: [new URL('src/main.js', import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome90', 'firefox90', 'safari15'],
  mangleProps: /^_/, // internal names start with _
  mangleCache: { ...STORED_KEYS },
  legalComments: 'none',
  write: false,
  define: {
    __CMP_EN__: JSON.stringify(strings.en),
    __CMP_LANGS__: JSON.stringify(LANGUAGES.join(' ')),
    __CMP_I18N__: JSON.stringify(i18nHash),
    __CMP_CSS__: JSON.stringify(css),
  },
});
const js = Buffer.from(result.outputFiles[0].contents);
const hash = sha(js).slice(0, 16);

const dist = here('dist/');
rmSync(dist, { recursive: true, force: true });
mkdirSync(here('dist/i18n/'), { recursive: true });
writeFileSync(here('dist/cmp.js'), js);
writeFileSync(here(`dist/cmp.${hash}.js`), js);
for (const lang of LANGUAGES) writeFileSync(here(`dist/i18n/${lang}.json`), JSON.stringify(strings[lang]));

const sizes = {
  raw: js.length,
  gzip: gzipSync(js, { level: 9 }).length,
  brotli: brotliCompressSync(js, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
};
writeFileSync(
  here('dist/manifest.json'),
  JSON.stringify({ file: `cmp.${hash}.js`, hash, i18n: i18nHash, languages: LANGUAGES, sizes, budget_gzip: BUDGET_GZIP }, null, 1),
);
const kb = (n) => (n / 1024).toFixed(2) + ' KB';
console.log(`dist/cmp.js (JS + CSS, = dist/cmp.${hash}.js)`);
console.log(`  raw ${kb(sizes.raw)}   gzip ${kb(sizes.gzip)}   brotli ${kb(sizes.brotli)}   (budget: ${kb(BUDGET_GZIP)} gzip)`);
console.log(`dist/i18n/: ${LANGUAGES.length} languages, ${keys.length} strings each`);
if (sizes.gzip > BUDGET_GZIP) {
  console.error(`over budget: ${sizes.gzip} bytes gzip > ${BUDGET_GZIP}`);
  process.exit(1);
}
