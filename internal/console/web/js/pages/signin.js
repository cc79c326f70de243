// Sign-in: with the OpenID provider when the server has one, a user name
// and password (a session cookie), or, folded away below, an API key.
import {h, heading, put} from '../dom.js';
import {signInPassword, signInKey, signInMethods, oidcHref} from '../session.js';

function goOn(ctx) {
  location.hash = nextOf(ctx) || '#/overview';
}

// wire runs sign-in on submit: the button says what happens, the error
// says what to do, and focus returns to the field to fix.
function wire(form, btn, err, label, focusOnError, attempt) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    btn.disabled = true;
    btn.textContent = 'Signing in…';
    try {
      await attempt();
    } catch (x) {
      err.textContent = x.message;
      err.hidden = false;
      focusOnError().setAttribute('aria-invalid', 'true');
      focusOnError().focus();
    } finally {
      btn.disabled = false;
      btn.textContent = label;
    }
  });
}

function nextOf(ctx) {
  const next = ctx.query.get('next');
  return next && next.startsWith('#/') && !next.startsWith('#/signin') ? next : '';
}

export async function render(main, ctx) {
  const methods = await signInMethods();
  // The provider: a link, since the sign-in is a navigation there and back.
  const oidc = methods.oidc ? [
    h('a', {class: 'button', id: 'oidc-signin', href: oidcHref(methods, nextOf(ctx))}, 'Sign in with ' + methods.oidc.name),
    h('p', {class: 'help'}, 'You sign in at ', methods.oidc.name, ' and come back here. Or with a user name and password:'),
  ] : null;
  // The password form.
  const err = h('div', {id: 'signin-error', class: 'error', role: 'alert', hidden: !ctx.message}, ctx.message || '');
  const user = h('input', {id: 'user', name: 'username', type: 'text', autocomplete: 'username', spellcheck: 'false',
    autocapitalize: 'none', required: true, maxlength: 64, 'aria-describedby': 'signin-error'});
  const password = h('input', {id: 'password', name: 'password', type: 'password', autocomplete: 'current-password',
    required: true, maxlength: 1024, 'aria-describedby': 'password-help signin-error'});
  const btn = h('button', {type: 'submit', class: 'primary', id: 'signin-submit'}, 'Sign in');
  const form = h('form', {class: 'signin card', novalidate: true, 'aria-labelledby': 'page-title'},
    heading('Sign in to vigil'),
    oidc,
    h('label', {for: 'user'}, 'User name'), user,
    h('label', {for: 'password'}, 'Password'), password,
    h('p', {id: 'password-help', class: 'help'},
      'Users are made by an admin on the Settings page, or the first one with ', h('code', {}, 'vigil users create'), '. ',
      'Five wrong passwords lock the user name for a while.'),
    err,
    btn);
  wire(form, btn, err, 'Sign in', () => (user.value.trim() ? password : user), async () => {
    await signInPassword({user: user.value, password: password.value});
    password.value = '';
    goOn(ctx);
  });

  // The API key, as a second way in.
  const keyErr = h('div', {id: 'key-error', class: 'error', role: 'alert', hidden: true});
  const key = h('input', {id: 'key', name: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false',
    required: true, 'aria-describedby': 'key-help key-error', placeholder: 'vgl_…'});
  const keyBtn = h('button', {type: 'submit', id: 'key-submit'}, 'Sign in with the key');
  const keyForm = h('form', {class: 'signin-key', novalidate: true, 'aria-label': 'Sign in with an API key'},
    h('label', {for: 'key'}, 'API key'), key,
    h('p', {id: 'key-help', class: 'help'},
      'A key of role viewer, analyst or admin. ', h('code', {}, 'vigil serve'), ' prints the first admin key once, at its first start; ',
      h('code', {}, 'vigil demo'), ' prints one each run. The key stays in this browser tab only and is forgotten when the tab closes.'),
    keyErr,
    keyBtn);
  wire(keyForm, keyBtn, keyErr, 'Sign in with the key', () => key, async () => {
    await signInKey({key: key.value});
    goOn(ctx);
  });
  const alt = h('details', {class: 'signin-alt', id: 'key-signin'}, h('summary', {}, 'Sign in with an API key instead'), keyForm);
  alt.addEventListener('toggle', () => { if (alt.open) key.focus(); });

  put(main, h('div', {class: 'signin-wrap'}, h('div', {class: 'signin-col'}, form, alt)));
  setTimeout(() => user.focus(), 0);
}
