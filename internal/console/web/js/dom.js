// Building the DOM without innerHTML: everything the API returns (titles,
// explanations, event payloads) comes from untrusted traffic, so it only
// ever reaches the page as text.

const SVGNS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'checked' || k === 'selected' || k === 'disabled' || k === 'value') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// h('a', {href: '#/x', class: 'y'}, 'text', child, …) makes an HTML element.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s('line', {x1: 0, …}) makes an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVGNS, tag), attrs, children);
}

// put appends children, skipping null, undefined and false (which
// Element.append would write as text) and flattening arrays.
export function put(el, ...children) {
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

// fmtTime shows an RFC 3339 time in UTC, to the second: SOC work across
// regions reads one clock.
export function fmtTime(t) {
  if (!t) return '—';
  const d = new Date(t);
  if (isNaN(d)) return String(t);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

// tms is a time in ms: RFC 3339 strings do not compare as text ("…34Z"
// sorts after "…34.5Z").
export function tms(t) { return Date.parse(t); }

export function plural(n, one, many) {
  return fmtNum(n) + ' ' + (n === 1 ? one : many || one + 's');
}

export function fmtNum(n) {
  if (n === undefined || n === null) return '—';
  return Number(n).toLocaleString('en-US');
}

export function timeEl(t) {
  return h('time', {datetime: t || ''}, fmtTime(t));
}

export const SEVERITIES = ['low', 'medium', 'high', 'critical'];
export const STATUSES = ['new', 'acknowledged', 'resolved', 'false_positive'];
export const CATEGORIES = ['credential-attack', 'account-takeover', 'unauthorized-command', 'unsafe-command',
  'mass-command', 'data-exfiltration', 'privileged-misuse', 'firmware-tampering', 'sms-spoofing',
  'telemetry-spoofing', 'in-vehicle-intrusion', 'service-anomaly'];

export function statusLabel(st) {
  return st === 'false_positive' ? 'false positive' : (st || '—');
}

export function severityBadge(sev) {
  return h('span', {class: ['sev', 'sev-' + sev]}, sev || '—');
}

export function statusBadge(st) {
  return h('span', {class: ['status', 'st-' + st]}, statusLabel(st));
}

// announce speaks a short message to screen readers (and shows nothing).
export function announce(msg) {
  const live = document.getElementById('live');
  if (!live) return;
  live.textContent = '';
  // A new text node after a tick is announced even if the text repeats.
  setTimeout(() => { live.textContent = msg; }, 50);
}

// errorBox shows what went wrong and what to do, as the API said it.
export function errorBox(err, what) {
  const msg = err && err.message ? err.message : String(err);
  return h('div', {class: 'error', role: 'alert'},
    h('strong', {}, what ? what + ': ' : 'Error: '), msg,
    err && err.code ? h('span', {class: 'muted'}, ' (' + err.code + ')') : null);
}

// pageTitle sets the document title and the page heading, and moves focus
// there so a screen reader starts reading the new page.
export function heading(text, extra) {
  document.title = text + ' · vigil';
  return h('h1', {tabindex: '-1', id: 'page-title'}, text, extra || null);
}

export function focusHeading() {
  const t = document.getElementById('page-title');
  if (t) t.focus({preventScroll: true});
}

// scroller wraps a wide table so it scrolls on its own on narrow screens and
// can be scrolled with the keyboard.
export function scroller(label, table, cls) {
  return h('div', {class: ['scroll', cls], role: 'region', 'aria-label': label, tabindex: '0'}, table);
}

// entityLinks turns an alert's entities into links: vehicles open their
// page, the rest filter the alert queue.
// entityHref is the page of an entity: a vehicle's twin, a principal's
// state, or (SIM numbers) the alerts naming it.
export function entityHref(tenant, kind, v) {
  const t = encodeURIComponent(tenant);
  if (kind === 'vehicle') return '#/vehicles/' + t + '/' + encodeURIComponent(v);
  if (['account', 'ip', 'client', 'device'].includes(kind)) return '#/principals/' + t + '/' + kind + '/' + encodeURIComponent(v);
  return '#/alerts?' + new URLSearchParams({kind, entity: v, status: 'any'}).toString();
}

export function entityList(tenant, ents, max) {
  let out = [];
  const add = (kind, v) => {
    if (!v) return;
    const href = entityHref(tenant, kind, v);
    out.push(h('a', {href, class: 'ent', title: kind + ' ' + v}, h('span', {class: 'ent-kind'}, kindLabel(kind)), v));
  };
  const capped = () => {
    if (!max || out.length <= max) return out;
    const more = out.length - max;
    return [...out.slice(0, max), h('span', {class: 'muted more'}, '+' + more + ' more')];
  };
  if (!ents) return out;
  if (Array.isArray(ents)) {
    for (const e of ents) add(e.kind, e.value);
    return capped();
  }
  add('vehicle', ents.vehicle);
  for (const v of ents.vehicles || []) if (v !== ents.vehicle) add('vehicle', v);
  add('account', ents.account);
  add('device', ents.device);
  add('ip', ents.ip);
  add('client', ents.client_id);
  add('msisdn', ents.msisdn);
  // The principals first: a mass alert names hundreds of vehicles.
  out = [...out.filter((a) => !a.title.startsWith('vehicle ')), ...out.filter((a) => a.title.startsWith('vehicle '))];
  return capped();
}

export function kindLabel(k) {
  return {vehicle: 'VIN', account: 'acct', device: 'dev', ip: 'IP', client: 'client', msisdn: 'SIM'}[k] || k;
}
