// Live alerts: GET /v1/alerts/stream (Server-Sent Events) read with fetch()
// and a stream reader, because EventSource cannot send the Authorization
// header. The connection is retried with growing pauses; while it is not
// live, the pages poll instead (see onState).
import {credentials, holder} from './session.js';
import {h} from './dom.js';

const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30000;
// The server sends a heartbeat every 15 s: three missed ones mean the
// connection is dead even if the socket does not say so.
const SILENCE_MS = 45000;
const MAX_EVENT = 4 << 20;

// liveAlerts opens the stream with the filters in params (tenant, category,
// severity) and calls
//   onAlert(alert)            for each new alert (the JSON of GET /v1/alerts/{id});
//   onState(state, detail)    'connecting', 'live', or 'down' ({retryIn} ms);
//   onOverflow()              when the server dropped the stream because the
//                             page fell behind: alerts were missed, reload them.
// It returns a function that closes the stream for good.
export function liveAlerts(params, {onAlert, onState, onOverflow}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v) q.set(k, v);
  const url = '/v1/alerts/stream' + (q.toString() ? '?' + q : '');
  let stopped = false, ctrl = null, retry = null, watchdog = null, failures = 0;

  const state = (s, detail) => { if (!stopped && onState) onState(s, detail || {}); };
  const pet = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => { if (ctrl) ctrl.abort(); }, SILENCE_MS);
  };

  function dispatch(block) {
    let name = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue; // comments: the heartbeat
      const c = line.indexOf(':');
      const field = c < 0 ? line : line.slice(0, c);
      let v = c < 0 ? '' : line.slice(c + 1);
      if (v.startsWith(' ')) v = v.slice(1);
      if (field === 'event') name = v;
      else if (field === 'data') data.push(v);
    }
    if (name === 'alert' && data.length) {
      let a = null;
      try { a = JSON.parse(data.join('\n')); } catch (e) { return; }
      onAlert(a);
    } else if (name === 'overflow' && onOverflow) {
      onOverflow();
    }
  }

  async function read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let live = false;
    for (;;) {
      const {value, done} = await reader.read();
      if (done || stopped) return;
      pet();
      if (!live) { live = true; failures = 0; state('live'); }
      buf += value.replace(/\r\n/g, '\n');
      let i;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        dispatch(block);
      }
      if (buf.length > MAX_EVENT) throw new Error('an event larger than ' + MAX_EVENT + ' bytes');
    }
  }

  async function connect() {
    retry = null;
    if (stopped) return;
    ctrl = new AbortController();
    state('connecting');
    let wait = 0;
    try {
      const sentAs = holder();
      const resp = await fetch(url, {headers: {Accept: 'text/event-stream', ...credentials()}, credentials: 'same-origin',
        cache: 'no-store', signal: ctrl.signal});
      if (resp.status === 401) {
        // The server also ends a stream whose credential was revoked or
        // changed: this reconnection is where the page learns it.
        stopped = true;
        if (sentAs === holder()) window.dispatchEvent(new CustomEvent('vigil:unauthenticated'));
        return;
      }
      if (!resp.ok || !resp.body) {
        // 429: too many streams on the server; 503: shutting down.
        wait = (Number(resp.headers.get('Retry-After')) || 0) * 1000;
        resp.body && resp.body.cancel();
      } else {
        pet();
        await read(resp.body);
      }
    } catch (e) {
      // A network error, or the watchdog's abort: retried below.
    }
    clearTimeout(watchdog);
    if (stopped) return;
    failures++;
    const backoff = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(failures - 1, 6));
    const delay = Math.round(Math.max(wait, backoff) * (0.8 + Math.random() * 0.4));
    state('down', {retryIn: delay, failures});
    retry = setTimeout(connect, delay);
  }

  connect();
  return () => {
    stopped = true;
    clearTimeout(retry);
    clearTimeout(watchdog);
    if (ctrl) ctrl.abort();
  };
}

// livePill is the small status shown on pages with live updates; set it
// from onState.
export function livePill() {
  const el = h('span', {class: 'live-pill live-connecting', id: 'live-state', 'data-state': 'connecting'}, 'Connecting…');
  return {
    el,
    set(s, detail) {
      let text = 'Live';
      if (s === 'connecting') text = 'Connecting…';
      if (s === 'down') text = 'Live updates interrupted: polling, retrying in ' + Math.max(1, Math.round((detail.retryIn || 0) / 1000)) + ' s';
      el.className = 'live-pill live-' + s;
      el.dataset.state = s;
      el.textContent = text;
      el.title = s === 'live' ? 'New alerts appear as detection stores them' : '';
    },
  };
}
