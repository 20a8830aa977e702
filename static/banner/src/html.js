// Text and URLs put into the banner's HTML (the core's layers and the modules alike).
export const escapeHtml = (x) => String(x == null ? '' : x).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
export const safeUrl = (u) => (/^https?:\/\//.test(u) ? escapeHtml(u) : '#');
