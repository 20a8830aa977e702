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

// a table or chart wider than the screen scrolls sideways: keyboard users reach it too
for (const wide of document.querySelectorAll('main table, .charts figure'))
  if (wide.scrollWidth > wide.clientWidth + 1 && !wide.closest('[tabindex]')) wide.tabIndex = 0;

// a vendor list (the draft's, the TCF page's): find a vendor as you type; the box names
// its table in data-filters (without script, the whole list shows)
for (const vendorSearch of document.querySelectorAll('input[data-filters]')) {
  vendorSearch.closest('.vendor-search').hidden = false;
  const rows = [...document.querySelectorAll(`#${vendorSearch.dataset.filters} tbody tr`)];
  const texts = rows.map((row) => row.textContent.toLowerCase());
  const status = document.getElementById(`${vendorSearch.id}-status`);
  vendorSearch.addEventListener('input', () => {
    const words = vendorSearch.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    rows.forEach((row, index) => {
      const match = words.every((w) => texts[index].includes(w));
      row.hidden = !match;
      shown += match;
    });
    status.textContent = words.length ? `${shown} of ${rows.length} vendors match.` : '';
  });
}

// The draft's live preview: what the form would give, shown before it is saved. Each
// change posts the form to the preview frame (nothing is saved); the preview's own
// switches (layer, language, light or dark page) travel with it; the screen switch only
// resizes the frame. Without script, the frame shows the saved draft.
const draftForm = document.getElementById('draft-form');
const previewFrame = document.getElementById('cmp-preview');
if (draftForm && previewFrame) {
  const hint = document.getElementById('preview-hint');
  hint.textContent = hint.dataset.live;
  document.getElementById('preview-controls').hidden = false;
  const refreshPreview = () => {
    const { action, target } = draftForm;
    draftForm.action = previewFrame.dataset.action;
    draftForm.target = previewFrame.name;
    HTMLFormElement.prototype.submit.call(draftForm);
    draftForm.action = action;
    draftForm.target = target;
  };
  let pending;
  const onEdit = (event) => {
    const field = event.target;
    if (field.name == 'preview_device') {
      document.getElementById('draft-layout').classList.toggle('desktop', field.value == 'desktop');
      return;
    }
    if (field.form != draftForm || !field.name) return; // the vendor search filters the list only
    if (event.type == 'change' && field.matches('textarea, input:not([type=radio]):not([type=checkbox])')) return; // its input events did
    clearTimeout(pending);
    pending = setTimeout(refreshPreview, event.type == 'change' ? 0 : 250);
  };
  document.addEventListener('input', onEdit);
  document.addEventListener('change', onEdit);
  // saving: a preview posted now would replace the save (a form plans one submission)
  draftForm.addEventListener('submit', () => {
    clearTimeout(pending);
    document.removeEventListener('input', onEdit);
    document.removeEventListener('change', onEdit);
  });
  if (draftForm.hasAttribute('data-typed')) refreshPreview(); // the form came back with errors
}
