// The console's shell: hash routes (#/alerts?…, #/incidents/ID, …), so the
// server only serves files and every view is a link that survives reload.
import {h, clear, focusHeading, announce, put} from './dom.js';
import {signedIn, signOut, forget, restore, via} from './session.js';
import * as signin from './pages/signin.js';
import * as overview from './pages/overview.js';
import * as alerts from './pages/alerts.js';
import * as incidents from './pages/incidents.js';
import * as incident from './pages/incident.js';
import * as vehicle from './pages/vehicle.js';
import * as principal from './pages/principal.js';
import * as detectors from './pages/detectors.js';
import * as settings from './pages/settings.js';
import {forgetCaller} from './caller.js';

const routes = [
  [/^signin$/, signin, 'signin'],
  [/^overview$/, overview, 'overview'],
  [/^alerts$/, alerts, 'alerts'],
  [/^incidents$/, incidents, 'incidents'],
  [/^incidents\/([^/]+)$/, incident, 'incidents'],
  [/^vehicles\/([^/]+)\/([^/]+)$/, vehicle, ''],
  [/^principals\/([^/]+)\/([^/]+)\/([^/]+)$/, principal, ''],
  [/^detectors$/, detectors, 'detectors'],
  [/^settings$/, settings, 'settings'],
];

const main = document.getElementById('main');
let cleanup = null;
let signinMessage = '';
let generation = 0; // of route(): a page that finishes rendering after the next one started is closed at once
let leaving = null; // aborts the requests of the page being left (ctx.signal)

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [p, q] = raw.split('?');
  return {path: p || '', query: new URLSearchParams(q || '')};
}

// stopPage aborts the current page's requests and runs its cleanup: before
// the next page, and before signing out, so that no request of the page
// reaches the server after its credential is gone.
function stopPage() {
  if (leaving) leaving.abort();
  if (cleanup) { try { cleanup(); } catch (e) { /* a page's cleanup must not stop navigation */ } cleanup = null; }
}

async function route() {
  const mine = ++generation;
  stopPage();
  leaving = new AbortController();
  const signal = leaving.signal;
  const {path, query} = parseHash();
  const authed = signedIn();
  document.getElementById('nav').hidden = !authed;
  document.getElementById('signout').hidden = !authed;
  if (!authed && path !== 'signin') {
    const back = location.hash && path !== '' ? location.hash : '';
    location.replace('#/signin' + (back ? '?' + new URLSearchParams({next: back}) : ''));
    return;
  }
  if (path === '' || (authed && path === 'signin')) { location.replace('#/overview'); return; }
  let match = null;
  for (const [re, mod, nav] of routes) {
    const m = path.match(re);
    if (m) { match = {mod, nav, params: m.slice(1).map(decodeURIComponent)}; break; }
  }
  for (const a of document.querySelectorAll('#nav a')) {
    if (match && a.getAttribute('href') === '#/' + match.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  clear(main);
  if (!match) {
    document.title = 'Not found · vigil';
    put(main, h('h1', {tabindex: '-1', id: 'page-title'}, 'No such page'),
      h('p', {}, 'The console has no page at ', h('code', {}, location.hash), '. ', h('a', {href: '#/overview'}, 'Go to the overview'), '.'));
    focusHeading();
    return;
  }
  const ctx = {params: match.params, query, message: signinMessage, signal};
  signinMessage = '';
  let done = null;
  try {
    done = (await match.mod.render(main, ctx)) || null;
  } catch (e) {
    // A page left while it loaded fails with its aborted requests: not news.
    if (mine === generation) put(main, h('div', {class: 'error', role: 'alert'}, 'This page failed: ' + e.message));
  }
  if (mine !== generation) {
    // The user moved on while this page loaded: stop its timers and streams.
    if (done) { try { done(); } catch (e) { /* as above */ } }
    return;
  }
  cleanup = done;
  focusHeading();
}

window.addEventListener('vigil:unauthenticated', () => {
  if (!signedIn()) return; // several requests failed at once: one sign-out
  signinMessage = via() === 'session' ?
    'Your session ended (signed out elsewhere, unused for too long, at its time limit, or revoked by an admin). Sign in again.' :
    'The server no longer accepts your key (revoked, or the server was reset). Sign in again.';
  forget();
  forgetCaller();
  const next = location.hash;
  location.hash = '#/signin?' + new URLSearchParams({next});
});

document.getElementById('signout').addEventListener('click', async () => {
  generation++; // the page being left says nothing of its aborted loads
  stopPage();
  await signOut();
  forgetCaller();
  announce('Signed out');
  location.hash = '#/signin';
});

// Theme: the system's until the toggle is used, then the choice, kept.
const themeBtn = document.getElementById('theme');
function effectiveTheme() {
  const set = document.documentElement.getAttribute('data-theme');
  if (set) return set;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}
function showTheme() {
  const dark = effectiveTheme() === 'dark';
  // A toggle button: its name stays, its pressed state says which theme.
  themeBtn.setAttribute('aria-pressed', String(dark));
}
themeBtn.addEventListener('click', () => {
  const next = effectiveTheme() === 'dark' ? 'light' : 'dark';
  document.documentElement.setAttribute('data-theme', next);
  try { localStorage.setItem('vigil.theme', next); } catch (e) { /* not kept */ }
  showTheme();
});
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', showTheme);
showTheme();

// "/" jumps to the current page's filter or search field.
document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  const f = main.querySelector('[data-shortcut="/"]');
  if (f) { e.preventDefault(); f.focus(); }
});

// Whether a session cookie from before a reload still holds decides the
// first page.
restore().then(() => {
  window.addEventListener('hashchange', route);
  route();
});
