// data-button: a small persistent button that opens the settings, shown while the banner
// is hidden (button.css). Loaded once the banner is on the page; the core's click handler
// opens the settings (data-cmp-action="open").
/* global __CMP_MODULE_CSS__ */
const core = window.cmp._core;
const shadow = core._addStyles(__CMP_MODULE_CSS__);
const dialog = shadow.getElementById('cmp-banner');
const button = document.createElement('button');
button.type = 'button';
button.className = 'fab';
button.setAttribute('data-cmp-action', 'open');
button.textContent = core._shared._config.strings.settings;
shadow.append(button);
const follow = () => (button.hidden = !dialog.hidden);
follow();
new MutationObserver(follow).observe(dialog, { attributes: true, attributeFilter: ['hidden'] });
