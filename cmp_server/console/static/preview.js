// The console's banner preview, asked for its settings layer: open it once the banner is
// up (window.cmp queues calls made before the banner has loaded).
window.cmp = window.cmp || Object.assign((...args) => window.cmp.q.push(args), { q: [] });
window.cmp('open');
