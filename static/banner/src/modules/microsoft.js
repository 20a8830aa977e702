// Microsoft's consent signals, for a site that lists Microsoft Advertising (UET) or
// Microsoft Clarity: denied by default as soon as the configuration is known (before the
// banner releases bat.js or Clarity's script, which it holds until their vendor is
// granted), then updated on every choice.
// - UET consent mode: uetq.push('consent', 'default' | 'update', {ad_storage}), granted
//   with the UET vendor (which needs marketing).
// - Clarity's consent API: clarity('consentv2', {ad_Storage, analytics_Storage}),
//   analytics granted with the Clarity vendor, ads with it and the marketing purpose
//   (Clarity shares data with Microsoft Advertising only then).
const core = window.cmp._core;
const signals = core._shared._config.consent_signals;
const uet = signals.microsoft_uet || [];
const clarity = signals.microsoft_clarity || [];
const value = (granted) => (granted ? 'granted' : 'denied');

const uetq = (...args) => (window.uetq = window.uetq || []).push(...args);
// Clarity's own snippet queues calls the same way until its script has loaded
const clarityCall = (...args) => (window.clarity = window.clarity || function () {
  (window.clarity.q = window.clarity.q || []).push(arguments);
})(...args);

function tell(purposes, vendors, command) {
  const all = (ids) => ids.every((id) => vendors[id]);
  if (uet.length) uetq('consent', command, { ad_storage: value(all(uet)) });
  if (clarity.length)
    clarityCall('consentv2', { ad_Storage: value(all(clarity) && purposes.marketing), analytics_Storage: value(all(clarity)) });
}

tell({}, {}, 'default');
core._modules.microsoft = { _grants: (purposes, vendors) => tell(purposes, vendors, 'update') };
