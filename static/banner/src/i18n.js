// The banner's own UI strings. English is built in; the other languages (the 24 official
// EU languages and Norwegian Bokmål) are one small JSON file each, fetched only when needed.
import { _s } from './state.js';

/* global __CMP_EN__, __CMP_I18N__, __CMP_LANGS__ */
const _LANGS = __CMP_LANGS__.split(' '); // strings.json's languages, set by build.mjs

const _primary = (tag) => {
  const code = (tag || '').split('-')[0].toLowerCase();
  return code == 'no' || code == 'nn' ? 'nb' : code;
};

// <html lang> first, then the browser's languages
export const _wanted = () =>
  [document.documentElement.lang, ...(navigator.languages || [])].map(_primary).filter(Boolean);

export const _uiLang = (fallback) => _wanted().find((l) => _LANGS.includes(l)) || fallback;

const _cache = { en: Promise.resolve(__CMP_EN__) };
export const _strings = (lang) =>
  (_cache[lang] =
    _cache[lang] ||
    fetch(`${_s._origin}/banner/i18n/${lang}.json?v=${__CMP_I18N__}`)
      .then((r) => (r.ok ? r.json() : __CMP_EN__))
      .catch(() => __CMP_EN__));
