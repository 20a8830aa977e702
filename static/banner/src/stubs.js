// The stubs of IAB's page APIs, __tcfapi (TCF v2.3) and __gpp (GPP 1.1): until the CMP is
// there, calls are queued (ping answers at once), and a locator frame (__tcfapiLocator,
// __gppLocator) tells iframes that a CMP is on the page, which they then call over
// postMessage ({__tcfapiCall} in, {__tcfapiReturn} out; likewise __gpp). The TCF and GPP
// modules install them when the page has not (dist/tcf-stub.js and dist/gpp-stub.js,
// pasted before any ad script, let those queue calls before the banner has its
// configuration); messages keep reaching whatever the API is then, stub or CMP.

function addLocator(name) {
  if (window.frames[name]) return;
  if (!document.body) return setTimeout(() => addLocator(name), 5);
  const frame = document.createElement('iframe');
  frame.name = name;
  frame.style.display = 'none';
  frame.title = name;
  document.body.append(frame);
}

// Calls from other frames: CALL is {command, parameter, version, callId}; ASK(call, reply)
// calls the page's API with a callback that REPLY posts back. Only the API's own commands,
// and no parameter longer than any real call needs: a frame of any origin may send these.
function answerFrames(name, commands, ask) {
  addEventListener('message', (event) => {
    let data = event.data;
    const asText = typeof data == 'string';
    try {
      if (asText) data = JSON.parse(data);
    } catch (e) {
      return;
    }
    const call = data && data[name + 'Call'];
    if (!call || !commands.includes(call.command)) return;
    if (Array.isArray(call.parameter) && call.parameter.length > 10000) return;
    ask(call, (returnValue, success) => {
      const answer = { [name + 'Return']: { returnValue, success, callId: call.callId } };
      if (event.source) event.source.postMessage(asText ? JSON.stringify(answer) : answer, '*');
    });
  });
}

export function installTcfStub() {
  if (typeof window.__tcfapi == 'function') return;
  const queue = [];
  addLocator('__tcfapiLocator');
  window.__tcfapi = (...args) => {
    if (!args.length) return queue; // the CMP API takes the queue over
    if (args[0] == 'ping') args[2]({ gdprApplies: undefined, cmpLoaded: false, cmpStatus: 'stub', apiVersion: '2.2' }, true);
    else queue.push(args);
  };
  answerFrames('__tcfapi', ['ping', 'getTCData', 'addEventListener', 'removeEventListener', 'getInAppTCData', 'getVendorList'], (call, reply) => window.__tcfapi(call.command, call.version, reply, call.parameter));
}

export function installGppStub() {
  if (typeof window.__gpp == 'function') return;
  const queue = [];
  addLocator('__gppLocator');
  window.__gpp = (...args) => {
    if (!args.length) return queue; // the CMP API takes the queue over
    const [command, callback] = args;
    if (command == 'ping')
      callback({ gppVersion: '1.1', cmpStatus: 'stub', cmpDisplayStatus: 'hidden', signalStatus: 'not ready', supportedAPIs: [], cmpId: 0, sectionList: [], applicableSections: [-1], gppString: '', parsedSections: {} }, true);
    else queue.push(args);
  };
  answerFrames('__gpp', ['ping', 'addEventListener', 'removeEventListener', 'hasSection', 'getSection', 'getField'], (call, reply) => window.__gpp(call.command, reply, call.parameter, call.version));
}
