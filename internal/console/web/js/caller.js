// Who the signed-in key is (GET /v1/me: its id, name, role and tenants),
// asked once per sign-in. Pages use it to offer only what the key may do;
// the server checks every call anyway.
import {api} from './api.js';

let pending = null;

// caller resolves to {key_id, name, role, tenants}.
export function caller() {
  if (!pending) pending = api.me().catch((e) => { pending = null; throw e; });
  return pending;
}

// forgetCaller is called on sign-out: the next key is asked again.
export function forgetCaller() {
  pending = null;
}

export function mayTriage(me) {
  return me.role === 'analyst' || me.role === 'admin';
}

export function isAdmin(me) {
  return me.role === 'admin';
}
