// A site's theme beyond the default light box (theme.css: dark mode, the other layouts),
// loaded before the banner is put up on a site whose theme needs it.
/* global __CMP_MODULE_CSS__ */
window.cmp._core._addStyles(__CMP_MODULE_CSS__);
