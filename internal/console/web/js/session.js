// How the console authenticates, and nothing else: the one module to change
// when API keys give way to password sign-in with a session cookie. Then
// signIn posts the password form, credentials() returns {} (the browser
// sends the cookie: api.js already fetches with credentials: 'same-origin'),
// signOut calls the sign-out route, and the rest of the console is unchanged.

const KEY = 'vigil.apiKey';
const KEY_FORMAT = /^vgl_[0-9a-f]{16}_[A-Za-z0-9_-]{20,100}$/;

// signedIn reports whether this tab holds a credential (not whether the
// server still accepts it: the first 401 signs out).
export function signedIn() {
  return !!sessionStorage.getItem(KEY);
}

// credentials are the headers that authenticate a request.
export function credentials() {
  const k = sessionStorage.getItem(KEY);
  return k ? {Authorization: 'Bearer ' + k} : {};
}

// signIn checks the key against the server, then keeps it for this tab
// (sessionStorage: gone when the tab closes, never shared with other tabs).
// It throws an Error whose message says what to do.
export async function signIn(form) {
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
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}
