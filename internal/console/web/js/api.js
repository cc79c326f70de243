// The REST API client. Errors are ApiErrors carrying the API's stable code
// and its message (which says what to do); a 401 anywhere ends the session
// (when the request was sent with the credential still in use).
// Credentials come from session.js: a key header, or the session cookie
// (same-origin) with its CSRF token.
import {credentials, holder} from './session.js';

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

async function request(method, path, params, body, signal) {
  let url = path;
  if (params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === '') continue;
      if (Array.isArray(v)) { if (v.length) q.set(k, v.join(',')); } else q.set(k, String(v));
    }
    const qs = q.toString();
    if (qs) url += '?' + qs;
  }
  const headers = {Accept: 'application/json', ...credentials()};
  const sentAs = holder();
  const init = {method, headers, credentials: 'same-origin', cache: 'no-store', signal};
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'The vigil server did not answer (' + e.message + '). It may be restarting; the page retries on its next refresh.');
  }
  let data = null;
  const text = await resp.text();
  if (text) {
    try { data = JSON.parse(text); } catch (e) { data = null; }
  }
  if (!resp.ok) {
    const pe = data && data.error ? data.error : {code: 'http_' + resp.status, message: resp.status + ' ' + resp.statusText};
    const err = new ApiError(resp.status, pe.code, pe.message, pe.field);
    if (resp.status === 401 && sentAs === holder()) window.dispatchEvent(new CustomEvent('vigil:unauthenticated', {detail: err}));
    throw err;
  }
  return data;
}

export const api = {
  get: (path, params, signal) => request('GET', path, params, undefined, signal),
  patch: (path, body) => request('PATCH', path, null, body),
  alerts: (params, signal) => request('GET', '/v1/alerts', params, undefined, signal),
  alert: (id) => request('GET', '/v1/alerts/' + encodeURIComponent(id)),
  patchAlert: (id, body) => request('PATCH', '/v1/alerts/' + encodeURIComponent(id), null, body),
  incidents: (params) => request('GET', '/v1/incidents', params),
  incident: (id) => request('GET', '/v1/incidents/' + encodeURIComponent(id)),
  patchIncident: (id, body) => request('PATCH', '/v1/incidents/' + encodeURIComponent(id), null, body),
  events: (params, signal) => request('GET', '/v1/events', params, undefined, signal),
  vehicle: (tenant, id) => request('GET', '/v1/vehicles/' + encodeURIComponent(id), {tenant}),
  principal: (tenant, kind, id) => request('GET', '/v1/principals/' + encodeURIComponent(kind) + '/' + encodeURIComponent(id), {tenant}),
  detectors: () => request('GET', '/v1/detectors'),
  stats: () => request('GET', '/v1/stats'),
  me: () => request('GET', '/v1/me'),
  tenants: () => request('GET', '/v1/tenants'),
  keys: () => request('GET', '/v1/keys'),
  createKey: (body) => request('POST', '/v1/keys', null, body),
  revokeKey: (id) => request('DELETE', '/v1/keys/' + encodeURIComponent(id)),
  users: () => request('GET', '/v1/users'),
  createUser: (body) => request('POST', '/v1/users', null, body),
  patchUser: (name, body) => request('PATCH', '/v1/users/' + encodeURIComponent(name), null, body),
  deleteUser: (name) => request('DELETE', '/v1/users/' + encodeURIComponent(name)),
  changePassword: (body) => request('POST', '/v1/me/password', null, body),
};

// allEvents reads a timeline page by page up to max events; truncated says
// whether more were left. signal (the page's) stops it when the page is left.
export async function allEvents(params, max, signal) {
  const out = [];
  let cursor = '';
  for (;;) {
    const page = await api.events({...params, limit: Math.min(1000, max - out.length), cursor}, signal);
    out.push(...page.events);
    if (!page.next) return {events: out, truncated: false};
    if (out.length >= max) return {events: out, truncated: true};
    cursor = page.next;
  }
}

// pool runs f over items with at most n in flight, and returns the results
// as {ok, value|error} in the items' order.
export async function pool(items, n, f, progress) {
  const out = new Array(items.length);
  let next = 0, done = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      try { out[i] = {ok: true, value: await f(items[i])}; } catch (e) { out[i] = {ok: false, error: e}; }
      done++;
      if (progress) progress(done, items.length);
    }
  }
  await Promise.all(Array.from({length: Math.min(n, items.length)}, worker));
  return out;
}
