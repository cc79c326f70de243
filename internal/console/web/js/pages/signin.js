// Sign-in: an API key for now (see session.js for the later password form).
import {h, heading, put} from '../dom.js';
import {signIn} from '../session.js';

export function render(main, ctx) {
  const err = h('div', {id: 'signin-error', class: 'error', role: 'alert', hidden: !ctx.message}, ctx.message || '');
  const input = h('input', {id: 'key', name: 'key', type: 'password', autocomplete: 'off', spellcheck: 'false',
    required: true, 'aria-describedby': 'key-help signin-error', placeholder: 'vgl_…'});
  const btn = h('button', {type: 'submit', class: 'primary'}, 'Sign in');
  const form = h('form', {class: 'signin card', novalidate: true, 'aria-labelledby': 'page-title'},
    heading('Sign in to vigil'),
    h('label', {for: 'key'}, 'API key'),
    input,
    h('p', {id: 'key-help', class: 'help'},
      'A key of role viewer, analyst or admin. ', h('code', {}, 'vigil serve'), ' prints the first admin key once, at its first start; ',
      h('code', {}, 'vigil demo'), ' prints one each run. The key stays in this browser tab only and is forgotten when the tab closes.'),
    err,
    btn);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    btn.disabled = true;
    btn.textContent = 'Signing in…';
    try {
      await signIn({key: input.value});
      const next = ctx.query.get('next');
      location.hash = next && next.startsWith('#/') && !next.startsWith('#/signin') ? next : '#/overview';
    } catch (x) {
      err.textContent = x.message;
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    } finally {
      btn.disabled = false;
      btn.textContent = 'Sign in';
    }
  });
  put(main, h('div', {class: 'signin-wrap'}, form));
  setTimeout(() => input.focus(), 0);
}
