// Settings for people: who you are (a user's session or an API key) with
// the form to change your own password, and, for admins, the users: list,
// create (role, tenants, initial password), disable or enable, reset a
// password, delete.
import {h, clear, timeEl, scroller, announce, errorBox, put} from '../dom.js';
import {api} from '../api.js';
import {renewed} from '../session.js';

const USER_ROLES = ['viewer', 'analyst', 'admin'];
const MIN_PASSWORD = 12;
const POLICY = 'At least 12 characters (a few unrelated words make a good one); not the user name nor a common password.';

function tenantText(ts) {
  if (!ts || !ts.length) return 'none';
  return ts.includes('*') ? 'every tenant (*)' : ts.join(', ');
}

function chars(s) {
  return [...s].length;
}

// focusField focuses the input the API named as wrong, if there is one.
function focusField(err, fields) {
  const f = err && err.field && fields[err.field];
  if (f) {
    f.setAttribute('aria-invalid', 'true');
    f.focus();
  }
}

// youCard says how you are signed in; with a session, it has the form to
// change your password.
export function youCard(me) {
  if (me.via !== 'session') {
    return h('section', {class: 'card', 'aria-labelledby': 'h-you'}, h('h2', {id: 'h-you'}, 'Your key'),
      h('dl', {class: 'kv'},
        h('dt', {}, 'Name'), h('dd', {}, me.name || h('em', {}, 'no name')),
        h('dt', {}, 'Key id'), h('dd', {}, h('code', {}, me.key_id)),
        h('dt', {}, 'Role'), h('dd', {}, h('strong', {}, me.role)),
        h('dt', {}, 'Tenants'), h('dd', {}, tenantText(me.tenants))),
      h('p', {class: 'help'}, 'You signed in with an API key, kept in this browser tab only. ',
        'People can also sign in with a user name and password; admins make users below.'));
  }
  const idle = Math.round((me.session.idle_timeout_seconds || 0) / 60);
  return h('section', {class: 'card', 'aria-labelledby': 'h-you'}, h('h2', {id: 'h-you'}, 'You'),
    h('dl', {class: 'kv'},
      h('dt', {}, 'User'), h('dd', {}, h('code', {}, me.user)),
      h('dt', {}, 'Role'), h('dd', {}, h('strong', {}, me.role)),
      h('dt', {}, 'Tenants'), h('dd', {}, tenantText(me.tenants)),
      h('dt', {}, 'Signed in'), h('dd', {}, timeEl(me.session.created)),
      h('dt', {}, 'Session ends'), h('dd', {}, timeEl(me.session.expires), h('span', {class: 'muted'}, ' at the latest; after ' + idle + ' min without use'))),
    passwordForm());
}

function passwordForm() {
  const cur = h('input', {id: 'pw-current', type: 'password', autocomplete: 'current-password', required: true, maxlength: 1024});
  const next = h('input', {id: 'pw-new', type: 'password', autocomplete: 'new-password', required: true, maxlength: 1024, 'aria-describedby': 'pw-help'});
  const again = h('input', {id: 'pw-again', type: 'password', autocomplete: 'new-password', required: true, maxlength: 1024});
  const btn = h('button', {type: 'submit', class: 'primary'}, 'Change password');
  const msg = h('div', {class: 'feedback', id: 'pw-feedback', 'aria-live': 'polite'});
  const form = h('form', {class: 'pw-form stack', novalidate: true, 'aria-labelledby': 'h-pw'},
    h('h3', {id: 'h-pw'}, 'Change my password'),
    h('div', {class: 'field'}, h('label', {for: 'pw-current'}, 'Current password'), cur),
    h('div', {class: 'field'}, h('label', {for: 'pw-new'}, 'New password'), next),
    h('div', {class: 'field'}, h('label', {for: 'pw-again'}, 'New password again'), again),
    h('p', {class: 'help', id: 'pw-help'}, POLICY, ' Your other sessions are signed out.'),
    msg,
    h('div', {}, btn));
  const fail = (text, field) => {
    put(clear(msg), errorBox(new Error(text), 'Not changed'));
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  };
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const f of [cur, next, again]) f.removeAttribute('aria-invalid');
    if (!cur.value) return fail('Enter your current password.', cur);
    if (chars(next.value) < MIN_PASSWORD) return fail('The new password needs at least ' + MIN_PASSWORD + ' characters.', next);
    if (next.value !== again.value) return fail('The two new passwords differ: type the same one twice.', again);
    btn.disabled = true;
    clear(msg);
    try {
      const res = await api.changePassword({current_password: cur.value, new_password: next.value});
      renewed(res.csrf_token);
      form.reset();
      put(msg, h('p', {class: 'ok'}, 'Password changed. Your other sessions were signed out.'));
      announce('Password changed');
    } catch (x) {
      put(msg, errorBox(x, 'Not changed'));
      focusField(x, {current_password: cur, new_password: next});
    } finally {
      btn.disabled = false;
    }
  });
  return form;
}

// usersSection lists, creates and changes users (admins).
export function usersSection(me) {
  const sec = h('section', {class: 'card wide', 'aria-labelledby': 'h-users', id: 'users'}, h('h2', {id: 'h-users'}, 'Users'));
  const list = h('div', {id: 'user-list'}, h('p', {class: 'muted'}, 'Loading the users…'));
  const msg = h('div', {class: 'feedback', id: 'user-feedback', 'aria-live': 'polite'});
  const ok = (text) => { put(clear(msg), h('p', {class: 'ok'}, text)); announce(text); };

  // Create.
  const name = h('input', {id: 'user-name', maxlength: 64, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'none',
    placeholder: 'ana.lopez@example.org', required: true, 'aria-describedby': 'user-name-help'});
  const role = h('select', {id: 'user-role'}, USER_ROLES.map((r) => h('option', {value: r, selected: r === 'viewer'}, r)));
  const every = me.tenants.includes('*');
  const scopeAll = h('input', {type: 'radio', id: 'user-scope-all', name: 'user-scope', value: 'all', checked: every, disabled: !every});
  const scopeSome = h('input', {type: 'radio', id: 'user-scope-some', name: 'user-scope', value: 'some', checked: !every});
  const tenantsIn = h('input', {id: 'user-tenants', autocomplete: 'off', placeholder: every ? 'fleet-a, fleet-b' : me.tenants.join(', '),
    'aria-describedby': 'user-tenants-help'});
  const syncScope = () => { tenantsIn.disabled = scopeAll.checked; };
  scopeAll.addEventListener('change', syncScope);
  scopeSome.addEventListener('change', syncScope);
  syncScope();
  const password = h('input', {id: 'user-password', type: 'password', autocomplete: 'new-password', maxlength: 1024, required: true,
    'aria-describedby': 'user-password-help'});
  const create = h('button', {type: 'submit', class: 'primary'}, 'Create user');
  const form = h('form', {class: 'key-form user-form', novalidate: true, 'aria-labelledby': 'h-new-user'},
    h('h3', {id: 'h-new-user'}, 'New user'),
    h('div', {class: 'field'}, h('label', {for: 'user-name'}, 'User name'), name,
      h('p', {class: 'help', id: 'user-name-help'}, 'Letters, digits, . _ - @ +')),
    h('div', {class: 'field'}, h('label', {for: 'user-role'}, 'Role'), role),
    h('fieldset', {class: 'scope'}, h('legend', {}, 'Tenants'),
      h('div', {class: 'radio'}, scopeAll, h('label', {for: 'user-scope-all'}, 'Every tenant (*)')),
      h('div', {class: 'radio'}, scopeSome, h('label', {for: 'user-scope-some'}, 'These tenants:')),
      tenantsIn,
      h('p', {class: 'help', id: 'user-tenants-help'}, every ? 'Separate tenants with commas.' :
        'Separate tenants with commas; you may give users ' + me.tenants.join(', ') + ' only.')),
    h('div', {class: 'field'}, h('label', {for: 'user-password'}, 'Initial password'), password,
      h('p', {class: 'help', id: 'user-password-help'}, POLICY)),
    h('div', {class: 'field actions'}, create));
  const fields = {name, role, tenants: tenantsIn, password};
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    for (const f of Object.values(fields)) f.removeAttribute('aria-invalid');
    const body = {name: name.value.trim(), role: role.value, password: password.value,
      tenants: scopeAll.checked ? ['*'] : tenantsIn.value.split(/[\s,]+/).filter(Boolean)};
    const bad = (text, f) => { put(clear(msg), errorBox(new Error(text), 'Not created')); f.setAttribute('aria-invalid', 'true'); f.focus(); };
    if (!body.name) return bad('Give the user a name.', name);
    if (!body.tenants.length) return bad('List the tenants the user may act on, or choose every tenant.', tenantsIn);
    if (chars(body.password) < MIN_PASSWORD) return bad('The initial password needs at least ' + MIN_PASSWORD + ' characters.', password);
    create.disabled = true;
    clear(msg);
    try {
      const u = await api.createUser(body);
      form.reset();
      role.value = 'viewer';
      scopeAll.checked = every;
      scopeSome.checked = !every;
      syncScope();
      ok('User “' + u.name + '” created. Give them the password by another channel; they can change it on this page.');
      await load();
    } catch (x) {
      put(msg, errorBox(x, 'Not created'));
      focusField(x, fields);
    } finally {
      create.disabled = false;
    }
  });

  async function load() {
    let res;
    try {
      res = await api.users();
    } catch (e) {
      put(clear(list), errorBox(e, 'Could not list the users'));
      return;
    }
    const tbody = h('tbody', {});
    res.users.forEach((u, i) => tbody.append(...userRows(u, i)));
    put(clear(list), scroller('Users', h('table', {class: 'keys', id: 'user-table'},
      h('caption', {class: 'visually-hidden'}, 'Users, by name'),
      h('thead', {}, h('tr', {}, ['Name', 'Role', 'Tenants', 'Status', 'Last sign-in (UTC)', 'Password set (UTC)', ''].map((t) => h('th', {scope: 'col'}, t)))),
      tbody)),
    h('p', {class: 'help'}, res.users.length + (res.users.length === 1 ? ' user' : ' users') + (every ? '.' : ' within your tenants.')));
  }

  // userRows is a user's row and the row under it where a password reset
  // or a deletion is confirmed.
  function userRows(u, i) {
    const mine = me.via === 'session' && u.name === me.user;
    const below = h('tr', {class: 'confirm', hidden: true});
    const toggle = h('button', {type: 'button', 'aria-label': (u.disabled ? 'Enable ' : 'Disable ') + u.name}, u.disabled ? 'Enable' : 'Disable');
    const reset = h('button', {type: 'button', 'aria-label': 'Reset the password of ' + u.name}, 'Reset password');
    const del = h('button', {type: 'button', class: 'danger', 'aria-label': 'Delete ' + u.name}, 'Delete');
    const tr = h('tr', {'data-name': u.name, class: mine ? 'you' : ''},
      h('td', {}, h('code', {}, u.name), mine ? h('span', {class: 'muted small'}, ' (you)') : null),
      h('td', {}, u.role),
      h('td', {}, tenantText(u.tenants)),
      h('td', {}, u.disabled ? h('span', {class: 'status st-disabled'}, 'disabled') : h('span', {class: 'status'}, 'active')),
      h('td', {class: 'nowrap'}, u.last_sign_in ? timeEl(u.last_sign_in) : h('span', {class: 'muted'}, 'never')),
      h('td', {class: 'nowrap'}, timeEl(u.password_changed)),
      h('td', {class: 'row-actions'}, toggle, ' ', reset, ' ', del));
    const close = (back) => { below.hidden = true; clear(below); reset.disabled = del.disabled = false; back.focus(); };

    toggle.addEventListener('click', async () => {
      toggle.disabled = true;
      try {
        await api.patchUser(u.name, {disabled: !u.disabled});
        ok('User “' + u.name + '” ' + (u.disabled ? 'enabled.' : 'disabled: their sessions ended.'));
        await load();
        document.querySelector('#user-table tr[data-name="' + CSS.escape(u.name) + '"] button')?.focus();
      } catch (x) {
        toggle.disabled = false;
        put(clear(msg), errorBox(x, u.disabled ? 'Not enabled' : 'Not disabled'));
      }
    });

    reset.addEventListener('click', () => {
      const id = 'reset-pw-' + i;
      const input = h('input', {id, type: 'password', autocomplete: 'new-password', maxlength: 1024, 'aria-describedby': id + '-help'});
      const yes = h('button', {type: 'submit', class: 'primary'}, 'Set password');
      const no = h('button', {type: 'button', class: 'ghost'}, 'Cancel');
      const out = h('div', {class: 'feedback', 'aria-live': 'polite'});
      const f = h('form', {class: 'confirm-box reset-box', novalidate: true, 'aria-label': 'New password for ' + u.name},
        h('label', {for: id}, 'New password for ' + u.name), input,
        h('p', {class: 'help', id: id + '-help'}, POLICY, ' Their sessions end.'),
        yes, ' ', no, out);
      put(clear(below), h('td', {colspan: '7'}, f));
      below.className = 'reset';
      below.hidden = false;
      reset.disabled = del.disabled = true;
      no.addEventListener('click', () => close(reset));
      f.addEventListener('submit', async (e) => {
        e.preventDefault();
        if (chars(input.value) < MIN_PASSWORD) {
          put(clear(out), errorBox(new Error('The password needs at least ' + MIN_PASSWORD + ' characters.'), 'Not set'));
          input.focus();
          return;
        }
        yes.disabled = true;
        try {
          await api.patchUser(u.name, {password: input.value});
          ok('The password of “' + u.name + '” is reset; their sessions ended.');
          await load();
        } catch (x) {
          yes.disabled = false;
          put(clear(out), errorBox(x, 'Not set'));
          input.focus();
        }
      });
      input.focus();
    });

    del.addEventListener('click', () => {
      const yes = h('button', {type: 'button', class: 'danger primary'}, 'Delete user');
      const no = h('button', {type: 'button', class: 'ghost'}, 'Cancel');
      const out = h('span', {class: 'feedback', 'aria-live': 'polite'});
      put(clear(below), h('td', {colspan: '7'},
        h('div', {class: 'confirm-box', role: 'group', 'aria-label': 'Confirm deleting ' + u.name},
          h('p', {}, h('strong', {}, 'Delete “' + u.name + '”? '), 'Their sessions end at once; this cannot be undone.',
            mine ? h('strong', {}, ' It is you: you will be signed out.') : null),
          yes, ' ', no, out)));
      below.className = 'confirm';
      below.hidden = false;
      reset.disabled = del.disabled = true;
      no.addEventListener('click', () => close(del));
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        try {
          await api.deleteUser(u.name);
          ok('User “' + u.name + '” deleted.');
          if (mine) { window.dispatchEvent(new CustomEvent('vigil:unauthenticated')); return; }
          await load();
        } catch (x) {
          yes.disabled = false;
          put(clear(out), errorBox(x, 'Not deleted'));
        }
      });
      yes.focus();
    });
    return [tr, below];
  }

  put(sec, h('p', {class: 'help'}, 'People sign in to this console with a user name and password. vigil keeps only an argon2id hash of each password. ',
    'Disabling a user, resetting the password or deleting the user ends their sessions at once. Every change is written to the audit log.'),
  msg, list, form);
  load();
  return sec;
}
