// How the console authenticates, and nothing else. Two ways:
//  - a user's session: POST /v1/session (a password), or a sign-in at the
//    OpenID provider (GET /v1/session/oidc, a page navigation that comes
//    back to the console), sets an HttpOnly cookie no script can read; the
//    browser sends it, and every change carries the session's CSRF token
//    (X-CSRF-Token), kept in this module's memory only and read again from
//    GET /v1/me after a reload;
//  - an API key, kept in this tab's sessionStorage (gone when it closes).

const KEY = 'vigil.apiKey';
const KEY_FORMAT = /^vgl_[0-9a-f]{16}_[A-Za-z0-9_-]{20,100}$/;

let mode = null; // 'session', 'key' or null
let csrf = '';

// signedIn reports whether this tab holds a credential (not whether the
// server still accepts it: the first 401 signs out).
export function signedIn() {
  return mode !== null;
}

// via is 'session' or 'key' (or null when signed out).
export function via() {
  return mode;
}

// credentials are the headers that authenticate a request: the key, or
// the session's CSRF token (the cookie goes by itself).
export function credentials() {
  if (mode === 'key') {
    const k = sessionStorage.getItem(KEY);
    return k ? {Authorization: 'Bearer ' + k} : {};
  }
  return mode === 'session' && csrf ? {'X-CSRF-Token': csrf} : {};
}

// holder names the credential in use now ('' when signed out): a request
// refused with 401 signs out only if it was sent with the credential still
// in use, not one from before a sign-in as someone else.
export function holder() {
  if (mode === 'key') return 'key:' + (sessionStorage.getItem(KEY) || '');
  return mode === 'session' ? 'session:' + csrf : '';
}

// restore finds out, once at start, whether this tab is signed in: a key
// kept in the tab, or a session cookie the server still accepts.
export async function restore() {
  if (sessionStorage.getItem(KEY)) {
    mode = 'key';
    return;
  }
  try {
    const resp = await fetch('/v1/me', {headers: {Accept: 'application/json'}, credentials: 'same-origin', cache: 'no-store'});
    if (!resp.ok) return;
    const me = await resp.json();
    if (me && me.via === 'session' && me.session && me.session.csrf_token) {
      mode = 'session';
      csrf = me.session.csrf_token;
    }
  } catch (e) {
    // Unreachable or not JSON: signed out; the sign-in page says what failed when used.
  }
}

async function post(path, body) {
  try {
    return await fetch(path, {method: 'POST', headers: {'Content-Type': 'application/json', Accept: 'application/json'},
      body: JSON.stringify(body), credentials: 'same-origin', cache: 'no-store'});
  } catch (e) {
    throw new Error('The vigil server did not answer (' + e.message + '). Check that it runs and that this page comes from it.');
  }
}

async function problemOf(resp) {
  try {
    const data = await resp.json();
    if (data && data.error && data.error.message) return data.error.message;
  } catch (e) { /* not JSON */ }
  return resp.status + ' ' + resp.statusText;
}

// signInPassword posts the user name and password; the server sets the
// session cookie. It throws an Error whose message says what to do.
export async function signInPassword(form) {
  const user = (form.user || '').trim();
  const password = form.password || '';
  if (!user) throw new Error('Enter your user name.');
  if (!password) throw new Error('Enter your password.');
  const resp = await post('/v1/session', {user, password});
  if (resp.status === 401) throw new Error('The user name or the password is wrong.');
  if (resp.status === 429) throw new Error('Not now: ' + await problemOf(resp) + '.');
  if (!resp.ok) throw new Error('Sign-in failed: ' + await problemOf(resp));
  const data = await resp.json();
  sessionStorage.removeItem(KEY);
  mode = 'session';
  csrf = data.csrf_token;
}

// signInMethods asks the server how one may sign in here:
// {password: true, oidc: {name, url}}, oidc only when a provider is
// configured. When the server cannot say, passwords and keys remain.
export async function signInMethods() {
  try {
    const resp = await fetch('/v1/session/methods', {headers: {Accept: 'application/json'}, credentials: 'same-origin', cache: 'no-store'});
    if (resp.ok) {
      const m = await resp.json();
      if (m && m.oidc && typeof m.oidc.url === 'string' && m.oidc.url.startsWith('/v1/')) return m;
      return {password: true};
    }
  } catch (e) {
    // Unreachable: the password form says so when used.
  }
  return {password: true};
}

// oidcHref is the address that signs in at the provider and comes back to
// next (a console page such as #/alerts), which the server checks again.
export function oidcHref(methods, next) {
  const url = methods.oidc.url;
  return next && next.startsWith('#/') ? url + '?' + new URLSearchParams({next}) : url;
}

// signInKey checks the key against the server, then keeps it for this tab
// (sessionStorage: gone when the tab closes, never shared with other tabs).
export async function signInKey(form) {
  const key = (form.key || '').trim();
  if (!key) throw new Error('Enter an API key.');
  if (!KEY_FORMAT.test(key)) {
    throw new Error('That is not a vigil API key: keys look like vgl_ followed by 16 hex digits, an underscore and the secret. ' +
      '`vigil serve` prints the first admin key once, at its first start.');
  }
  let resp;
  try {
    resp = await fetch('/v1/stats', {headers: {Authorization: 'Bearer ' + key}, credentials: 'same-origin', cache: 'no-store'});
  } catch (e) {
    throw new Error('The vigil server did not answer (' + e.message + '). Check that it runs and that this page comes from it.');
  }
  if (resp.status === 401) throw new Error('The server does not know this key: it is unknown, revoked or mistyped.');
  if (resp.status === 403) throw new Error('This key may not read alerts (an ingest key?). Sign in with a viewer, analyst or admin key.');
  if (!resp.ok) throw new Error('The server answered ' + resp.status + ' ' + resp.statusText + '; try again shortly.');
  sessionStorage.setItem(KEY, key);
  mode = 'key';
  csrf = '';
}

// renewed takes the CSRF token of the session that replaced this one (a
// password change ends every session and starts a new one).
export function renewed(token) {
  mode = 'session';
  csrf = token;
}

// forget drops the credential without asking the server (it refused it).
export function forget() {
  sessionStorage.removeItem(KEY);
  mode = null;
  csrf = '';
}

// signOut ends the session on the server, then forgets the credential.
export async function signOut() {
  const was = {mode, csrf};
  forget();
  if (was.mode !== 'session') return;
  try {
    await fetch('/v1/session', {method: 'DELETE', headers: {'X-CSRF-Token': was.csrf}, credentials: 'same-origin', cache: 'no-store'});
  } catch (e) {
    // The server is away; the session ends at its idle timeout.
  }
}
