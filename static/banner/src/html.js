// Text and URLs put into the banner's HTML (the core's layers and the modules alike).
export const escapeHtml = (x) => String(x == null ? '' : x).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
export const safeUrl = (u) => (/^https?:\/\//.test(u) ? escapeHtml(u) : '#');
export const button = (action, label) => `<button type="button" class="b" data-cmp-action="${action}">${escapeHtml(label)}</button>`;
export const policyLink = (u, label) => `<a href="${safeUrl(u)}" target="_blank" rel="noopener">${escapeHtml(label)}</a>`;
