// The console's progressive enhancement; every page works without it.
// - The site switcher goes to the chosen site at once (without script: its Go button).
// - <button data-copy="ID"> copies the text of element ID and says so.
document.addEventListener('change', (event) => {
  const select = event.target.closest('.switcher select');
  if (select && select.value) select.form.submit();
});

document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-copy]');
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.copy + '-status');
  const say = (text) => {
    if (status) status.textContent = text;
  };
  navigator.clipboard.writeText(source.textContent.trim()).then(
    () => say('Copied to the clipboard.'),
    () => say('Could not copy: select the text and copy it yourself.'),
  );
});

for (const button of document.querySelectorAll('.switcher button')) button.classList.add('visually-hidden');
for (const button of document.querySelectorAll('button[data-copy]')) button.hidden = false;
// on a phone the navigation starts folded
if (matchMedia('(max-width: 48rem)').matches) for (const nav of document.querySelectorAll('details.sidenav')) nav.open = false;

// a colour picker and its text box say the same colour
document.addEventListener('input', (event) => {
  const picker = event.target.closest('input[type=color][data-colour-for]');
  if (picker) document.getElementById(picker.dataset.colourFor).value = picker.value;
  const box = event.target.closest('.colour input[type=text]');
  const pair = box && box.parentElement.querySelector('input[type=color]');
  if (pair && /^#[0-9a-f]{6}$/i.test(box.value)) pair.value = box.value;
});

// a table wider than the screen scrolls sideways: keyboard users reach it too
for (const table of document.querySelectorAll('main table'))
  if (table.scrollWidth > table.clientWidth + 1 && !table.closest('[tabindex]')) table.tabIndex = 0;

// the draft's vendor list: find a vendor as you type (without script, the whole list shows)
const vendorSearch = document.getElementById('vendor-search');
if (vendorSearch) {
  vendorSearch.closest('.vendor-search').hidden = false;
  const rows = [...document.querySelectorAll('#draft-vendors tbody tr')];
  const status = document.getElementById('vendor-search-status');
  vendorSearch.addEventListener('input', () => {
    const words = vendorSearch.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const row of rows) {
      const match = words.every((w) => row.textContent.toLowerCase().includes(w));
      row.hidden = !match;
      shown += match;
    }
    status.textContent = words.length ? `${shown} of ${rows.length} vendors match.` : '';
  });
}
