// Settings: who you are signed in as (and your password: settings-users.js),
// the tenants you may see, the API keys (admins: create, with the secret
// shown once, and revoke), the users (admins: settings-users.js), what each
// role may do, and the outbound sinks (settings-sinks.js).
import {h, clear, heading, timeEl, scroller, announce, errorBox, put} from '../dom.js';
import {api} from '../api.js';
import {caller, isAdmin} from '../caller.js';
import {sinksSection} from './settings-sinks.js';
import {youCard, usersSection} from './settings-users.js';

const ROLES = [
  ['admin', 'Everything an analyst may, plus sending events, asking the command gate and managing API keys and users — for the tenants it lists. ' +
    'An admin of some tenants sees and creates only keys and users within them.'],
  ['analyst', 'Everything a viewer may, plus triage: alert and incident status, assignee and comments; and the command gate’s decisions.'],
  ['viewer', 'Read alerts (also live), incidents, event timelines, vehicles, detectors and counters of its tenants. No change.'],
  ['ingest', 'Send events (POST /v1/events) for its tenants, nothing else. Cannot sign in to the console.'],
  ['gate', 'Ask the command gate whether a remote command may go (POST /v1/gate), nothing else. Cannot sign in to the console.'],
];

export async function render(main) {
  put(main, heading('Settings'));
  let me;
  try {
    me = await caller();
  } catch (e) {
    put(main, errorBox(e, 'Could not read who you are'));
    return;
  }
  const you = youCard(me);
  const tenants = h('section', {class: 'card', 'aria-labelledby': 'h-tenants'}, h('h2', {id: 'h-tenants'}, 'Tenants'),
    h('p', {class: 'muted'}, 'Loading…'));
  const keys = isAdmin(me) ? h('section', {class: 'card wide', 'aria-labelledby': 'h-keys', id: 'keys'}, h('h2', {id: 'h-keys'}, 'API keys')) : null;
  const users = isAdmin(me) ? usersSection(me) : null;
  const roles = h('section', {class: 'card wide', 'aria-labelledby': 'h-roles'}, h('h2', {id: 'h-roles'}, 'Roles'),
    scroller('Roles', h('table', {class: 'roles'},
      h('caption', {class: 'visually-hidden'}, 'What each role may do'),
      h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Role'), h('th', {scope: 'col'}, 'May'))),
      h('tbody', {}, ROLES.map(([r, may]) => h('tr', {class: r === me.role ? 'you' : ''},
        h('th', {scope: 'row'}, r, r === me.role ? h('span', {class: 'muted small'}, ' (yours)') : null), h('td', {}, may)))))),
    h('p', {class: 'help'}, 'Every key and user has one role and a list of tenants (or every tenant); the server checks both on every call. ',
      'Ingest and gate are for machines: only API keys have them. Key and user changes, sign-ins and triage are written to the audit log.'));
  const sinks = sinksSection(me);
  put(main, h('div', {class: 'grid'}, you, tenants, keys, users, roles, sinks));

  showTenants(tenants);
  if (keys) keySection(keys, me);
}

function tenantText(ts) {
  if (!ts || !ts.length) return 'none';
  return ts.includes('*') ? 'every tenant (*)' : ts.join(', ');
}

async function showTenants(sec) {
  let t;
  try {
    t = await api.tenants();
  } catch (e) {
    put(clear(sec), h('h2', {id: 'h-tenants'}, 'Tenants'), errorBox(e, 'Could not list the tenants'));
    return;
  }
  put(clear(sec), h('h2', {id: 'h-tenants'}, 'Tenants'),
    t.tenants.length ? h('ul', {class: 'tenant-list'}, t.tenants.map((n) => h('li', {},
      h('code', {}, n), ' ', h('a', {href: '#/alerts?' + new URLSearchParams({tenant: n}), 'aria-label': 'Open alerts of ' + n}, 'open alerts')))) :
      h('p', {class: 'muted'}, 'No tenant yet.'),
    t.all_tenants ? h('p', {class: 'help'}, 'You may see every tenant, also ones that appear later. ',
      t.complete ? '' : 'Listed: the tenants named by API keys and by the latest alerts.') :
      h('p', {class: 'help'}, 'The tenants your key or user lists.'));
}

// keySection lists, creates and revokes keys.
function keySection(sec, me) {
  const list = h('div', {id: 'key-list'}, h('p', {class: 'muted'}, 'Loading the keys…'));
  const secretBox = h('div', {id: 'new-key', class: 'secret', hidden: true, tabindex: '-1'});
  const msg = h('div', {class: 'feedback', 'aria-live': 'polite'});

  // Create.
  const name = h('input', {id: 'key-name', name: 'name', maxlength: 128, autocomplete: 'off', placeholder: 'what or who it is for', required: true});
  const role = h('select', {id: 'key-role', name: 'role'}, ROLES.map(([r]) => h('option', {value: r, selected: r === 'viewer'}, r)));
  const every = me.tenants.includes('*');
  const scopeAll = h('input', {type: 'radio', id: 'key-scope-all', name: 'scope', value: 'all', checked: every, disabled: !every});
  const scopeSome = h('input', {type: 'radio', id: 'key-scope-some', name: 'scope', value: 'some', checked: !every});
  const tenantsIn = h('input', {id: 'key-tenants', name: 'tenants', autocomplete: 'off', placeholder: every ? 'fleet-a, fleet-b' : me.tenants.join(', '),
    'aria-describedby': 'key-tenants-help'});
  const syncScope = () => { tenantsIn.disabled = scopeAll.checked; };
  scopeAll.addEventListener('change', syncScope);
  scopeSome.addEventListener('change', syncScope);
  syncScope();
  const create = h('button', {type: 'submit', class: 'primary'}, 'Create key');
  const form = h('form', {class: 'key-form', 'aria-labelledby': 'h-new-key'},
    h('h3', {id: 'h-new-key'}, 'New key'),
    h('div', {class: 'field'}, h('label', {for: 'key-name'}, 'Name'), name),
    h('div', {class: 'field'}, h('label', {for: 'key-role'}, 'Role'), role),
    h('fieldset', {class: 'scope'}, h('legend', {}, 'Tenants'),
      h('div', {class: 'radio'}, scopeAll, h('label', {for: 'key-scope-all'}, 'Every tenant (*)')),
      h('div', {class: 'radio'}, scopeSome, h('label', {for: 'key-scope-some'}, 'These tenants:')),
      tenantsIn,
      h('p', {class: 'help', id: 'key-tenants-help'}, every ? 'Separate tenants with commas.' :
        'Separate tenants with commas; your key may create keys for ' + me.tenants.join(', ') + ' only.')),
    h('div', {class: 'field actions'}, create));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = {name: name.value.trim(), role: role.value,
      tenants: scopeAll.checked ? ['*'] : tenantsIn.value.split(/[\s,]+/).filter(Boolean)};
    if (!body.name) { put(clear(msg), errorBox(new Error('Give the key a name: what or who it is for.'), 'Not created')); name.focus(); return; }
    if (!body.tenants.length) { put(clear(msg), errorBox(new Error('List the tenants the key may act on, or choose every tenant.'), 'Not created')); tenantsIn.focus(); return; }
    create.disabled = true;
    clear(msg);
    try {
      const res = await api.createKey(body);
      form.reset();
      role.value = 'viewer';
      scopeAll.checked = every;
      scopeSome.checked = !every;
      syncScope();
      showSecret(res);
      await load();
    } catch (x) {
      put(msg, errorBox(x, 'Not created'));
    } finally {
      create.disabled = false;
    }
  });

  function showSecret(res) {
    const field = h('input', {id: 'new-secret', readonly: true, value: res.secret, spellcheck: 'false', autocomplete: 'off',
      'aria-label': 'The new key', 'aria-describedby': 'new-key-warning'});
    field.addEventListener('focus', () => field.select());
    const copy = h('button', {type: 'button', id: 'copy-secret'}, 'Copy');
    copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(res.secret);
        copy.textContent = 'Copied';
        announce('The key is copied to the clipboard');
      } catch (e) {
        field.focus();
        copy.textContent = 'Selected: copy with Ctrl+C';
      }
    });
    const done = h('button', {type: 'button', class: 'ghost'}, 'I have stored it');
    done.addEventListener('click', () => { secretBox.hidden = true; clear(secretBox); name.focus(); });
    put(clear(secretBox),
      h('p', {class: 'warn', id: 'new-key-warning'}, h('strong', {}, 'Copy this key now. '),
        'It is shown only this once: vigil keeps only its hash and cannot show it again. Whoever holds it acts as ',
        h('strong', {}, res.key.name || res.key.id), ' (', res.key.role, ', ', tenantText(res.key.tenants), ').'),
      h('div', {class: 'secret-row'}, field, copy, done));
    secretBox.hidden = false;
    secretBox.focus();
    announce('Key created. It is shown only this once: copy it now.');
  }

  async function load() {
    let res;
    try {
      res = await api.keys();
    } catch (e) {
      put(clear(list), errorBox(e, 'Could not list the keys'));
      return;
    }
    const tbody = h('tbody', {});
    for (const k of res.keys) tbody.append(...keyRows(k));
    put(clear(list), scroller('API keys', h('table', {class: 'keys', id: 'key-table'},
      h('caption', {class: 'visually-hidden'}, 'API keys, newest first'),
      h('thead', {}, h('tr', {}, ['Name', 'Key id', 'Role', 'Tenants', 'Created (UTC)', 'Last used (UTC)', ''].map((t) => h('th', {scope: 'col'}, t)))),
      tbody)),
    h('p', {class: 'help'}, res.keys.length + (res.keys.length === 1 ? ' key' : ' keys') +
      (every ? '.' : ' within your tenants.') + ' Last use is written at most once a minute.'));
  }

  // keyRows is a key's row and, after Revoke, the confirmation under it.
  function keyRows(k) {
    const mine = k.id === me.key_id;
    const confirmRow = h('tr', {class: 'confirm', hidden: true});
    const revoke = h('button', {type: 'button', class: 'danger', 'aria-label': 'Revoke ' + (k.name || k.id)}, 'Revoke');
    const tr = h('tr', {'data-id': k.id, class: mine ? 'you' : ''},
      h('td', {}, k.name || h('em', {}, 'no name'), mine ? h('span', {class: 'muted small'}, ' (you)') : null),
      h('td', {}, h('code', {}, k.id)),
      h('td', {}, k.role),
      h('td', {}, tenantText(k.tenants)),
      h('td', {class: 'nowrap'}, timeEl(k.created)),
      h('td', {class: 'nowrap'}, k.last_used ? timeEl(k.last_used) : h('span', {class: 'muted'}, 'never')),
      h('td', {}, revoke));
    revoke.addEventListener('click', () => {
      const yes = h('button', {type: 'button', class: 'danger primary'}, 'Revoke key');
      const no = h('button', {type: 'button', class: 'ghost'}, 'Cancel');
      const out = h('span', {class: 'feedback', 'aria-live': 'polite'});
      put(clear(confirmRow), h('td', {colspan: '7'},
        h('div', {class: 'confirm-box', role: 'group', 'aria-label': 'Confirm revoking ' + (k.name || k.id)},
          h('p', {}, h('strong', {}, 'Revoke “' + (k.name || k.id) + '”? '), 'Every client that uses it is refused at once; this cannot be undone.',
            mine ? h('strong', {}, ' It is the key you are signed in with: you will be signed out.') : null),
          yes, ' ', no, out)));
      confirmRow.hidden = false;
      revoke.disabled = true;
      no.addEventListener('click', () => { confirmRow.hidden = true; revoke.disabled = false; revoke.focus(); });
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        try {
          await api.revokeKey(k.id);
          announce('Key ' + (k.name || k.id) + ' revoked');
          put(clear(msg), h('p', {class: 'ok'}, 'Key “' + (k.name || k.id) + '” revoked.'));
          if (mine) { window.dispatchEvent(new CustomEvent('vigil:unauthenticated')); return; }
          await load();
        } catch (x) {
          yes.disabled = false;
          put(clear(out), errorBox(x, 'Not revoked'));
        }
      });
      yes.focus();
    });
    return [tr, confirmRow];
  }

  put(sec, h('p', {class: 'help'}, 'Keys authenticate people in this console and machines on the API. A key’s secret is shown once, when it is created; ',
    'vigil stores only its hash. Revoking a key stops it at once.'), secretBox, msg, list, form);
  load();
}
