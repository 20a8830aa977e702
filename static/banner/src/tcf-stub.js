// The __tcfapi stub (IAB TCF v2.3, CMP API): until the CMP is there, calls are queued
// (ping answers at once), and the __tcfapiLocator frame tells iframes that a CMP is on the
// page, which they then call over postMessage ({__tcfapiCall} in, {__tcfapiReturn} out).
// The TCF module installs it when the page has not (dist/tcf-stub.js, pasted before any
// ad script, lets them queue calls before the banner's configuration has arrived); the
// messages keep reaching whatever __tcfapi is then, the stub or the CMP API.
export function installTcfStub() {
  if (typeof window.__tcfapi == 'function') return;
  const queue = [];
  (function addLocator() {
    if (window.frames.__tcfapiLocator) return;
    if (!document.body) return setTimeout(addLocator, 5);
    const frame = document.createElement('iframe');
    frame.name = '__tcfapiLocator';
    frame.style.display = 'none';
    frame.title = 'IAB TCF locator';
    document.body.append(frame);
  })();
  window.__tcfapi = (...args) => {
    if (!args.length) return queue; // the CMP API takes the queue over
    if (args[0] == 'ping') args[2]({ gdprApplies: undefined, cmpLoaded: false, cmpStatus: 'stub', apiVersion: '2.2' }, true);
    else queue.push(args);
  };
  addEventListener('message', (event) => {
    let data = event.data;
    const asText = typeof data == 'string';
    try {
      if (asText) data = JSON.parse(data);
    } catch (e) {
      return;
    }
    const call = data && data.__tcfapiCall;
    if (!call || typeof call.command != 'string') return;
    window.__tcfapi(
      call.command,
      call.version,
      (returnValue, success) => {
        const answer = { __tcfapiReturn: { returnValue, success, callId: call.callId } };
        if (event.source) event.source.postMessage(asText ? JSON.stringify(answer) : answer, '*');
      },
      call.parameter,
    );
  });
}
