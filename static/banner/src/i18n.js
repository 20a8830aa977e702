// The visitor's languages, best first: <html lang>, then the browser's. The configuration
// asked for with the first comes in one language the banner speaks (the server falls back
// on Accept-Language, then the site's default), with every text the banner shows.

const primaryLanguage = (tag) => {
  const code = (tag || '').split('-')[0].toLowerCase();
  return code == 'no' || code == 'nn' ? 'nb' : code;
};

export const wantedLanguages = () =>
  [document.documentElement.lang, ...(navigator.languages || [])].map(primaryLanguage).filter(Boolean);
