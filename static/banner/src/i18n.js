// The banner's own UI strings. English is built in; the other languages (the 24 official
// EU languages and Norwegian Bokmål) are one small JSON file each, fetched only when needed.
import { state } from './state.js';

/* global __CMP_EN__, __CMP_I18N__, __CMP_LANGS__ */
const LANGUAGES = __CMP_LANGS__.split(' '); // strings.json's languages, set by build.mjs

const primaryLanguage = (tag) => {
  const code = (tag || '').split('-')[0].toLowerCase();
  return code == 'no' || code == 'nn' ? 'nb' : code;
};

// <html lang> first, then the browser's languages
export const wantedLanguages = () =>
  [document.documentElement.lang, ...(navigator.languages || [])].map(primaryLanguage).filter(Boolean);

export const uiLanguage = (fallback) => wantedLanguages().find((l) => LANGUAGES.includes(l)) || fallback;

const stringsByLanguage = { en: Promise.resolve(__CMP_EN__) };
export const uiStrings = (language) =>
  (stringsByLanguage[language] =
    stringsByLanguage[language] ||
    fetch(`${state._cmpOrigin}/banner/i18n/${language}.json?v=${__CMP_I18N__}`)
      .then((r) => (r.ok ? r.json() : __CMP_EN__))
      .catch(() => __CMP_EN__));
