// Google Consent Mode v2, the part that cannot wait for the configuration: the defaults
// before any Google tag, and the site's own defaults as the previous page view learnt
// them. The rest is the google module (modules/google.js), which a site with Google
// vendors loads. Through the dataLayer, so it works whether or not gtag.js or Tag Manager
// has loaded yet (they read the queued commands when they do).

// gtag() must queue an arguments object, not an array
export function gtag() {
  (window.dataLayer = window.dataLayer || []).push(arguments);
}

// Before any Google tag: every signal denied but security storage.
export const consentModeDefault = () =>
  gtag('consent', 'default', {
    ad_storage: 'denied',
    ad_user_data: 'denied',
    ad_personalization: 'denied',
    analytics_storage: 'denied',
    functionality_storage: 'denied',
    personalization_storage: 'denied',
    security_storage: 'granted',
    wait_for_update: 500,
  });

// A visitor with no stored choice and no GPC signal: the site's own commands (region
// defaults, ads data redaction, URL passthrough) as the google module kept them in
// localStorage cmp_gcm, before the configuration arrives.
export function consentModeRemembered(siteKey) {
  try {
    const [key, commands] = JSON.parse(localStorage.getItem('cmp_gcm'));
    if (key == siteKey) for (const command of commands) gtag(...command);
    return key == siteKey && commands;
  } catch (e) {} // none yet
}
