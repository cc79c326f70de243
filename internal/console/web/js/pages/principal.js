// An account, IP address, API client, device or subnet: what detection
// holds about it now (failures, logins, links, devices, a takeover trail,
// reads and commands outside entitlement), its alerts and its timeline.
import {h, clear, heading, timeEl, fmtTime, fmtNum, severityBadge, statusBadge, scroller, errorBox, tms, put} from '../dom.js';
import {api, allEvents} from '../api.js';
import {timeline, refKey} from '../timeline.js';

const WINDOW_MS = 6 * 3600e3;

// The kinds of principal, as a heading names them.
export const PRINCIPAL_KINDS = {account: 'Account', ip: 'IP address', client: 'API client', device: 'Device', subnet: 'Subnet'};

// evt shows an event reference as text a reader can search for.
const evt = (r) => (r ? h('code', {}, r.id) : '—');

function table(label, cols, rows) {
  return scroller(label, h('table', {},
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', {scope: 'col'}, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c)))))));
}

// stateOf lays out what the API says, part by part; parts detection does
// not hold are left out.
function stateOf(tenant, p) {
  const out = [h('dl', {class: 'kv'},
    h('dt', {}, 'First seen'), h('dd', {}, timeEl(p.first_seen)),
    h('dt', {}, 'Last seen'), h('dd', {}, timeEl(p.last_seen)),
    h('dt', {}, 'Last alert'), h('dd', {}, p.last_alert ? timeEl(p.last_alert) : '—'))];
  if ((p.failures || []).length) {
    out.push(h('h3', {}, 'Recent failures'), table('Recent failures', ['Time (UTC)', p.kind === 'account' ? 'From' : 'Account', 'Event'],
      p.failures.slice().reverse().map((f) => [timeEl(f.time), f.other || '—', evt(f.event)])));
  }
  if ((p.logins || []).length) {
    out.push(h('h3', {}, 'Recent login attempts'), table('Recent login attempts', ['Time (UTC)', 'Account', 'Result', 'Event'],
      p.logins.slice().reverse().map((l) => [timeEl(l.time), l.account || '—', l.ok ? 'success' : (l.unknown_user ? 'failure (unknown user)' : 'failure'), evt(l.event)])));
  }
  if ((p.links || []).length) {
    out.push(h('h3', {}, 'Vehicles linked or unlinked by account changes'), h('ul', {class: 'tags'}, p.links.map((l) =>
      h('li', {}, h('a', {href: '#/vehicles/' + encodeURIComponent(tenant) + '/' + encodeURIComponent(l.vehicle)}, l.vehicle), l.linked ? '' : ' (unlinked)'))));
  }
  if (p.devices) {
    const n = p.devices.new_device;
    out.push(h('h3', {}, 'Devices'), h('p', {}, `${p.devices.known} known device(s).`,
      n ? [' A login from a new device is still watched for a command: ', h('code', {}, n.device || '?'), ` from ${n.ip || '?'} at ${fmtTime(n.time)}.`] : ''));
  }
  if (p.takeover) {
    const t = p.takeover;
    out.push(h('h3', {}, 'Takeover trail'), h('dl', {class: 'kv'},
      t.change ? [h('dt', {}, 'Contact or credential change'), h('dd', {}, `${t.change} at ${fmtTime(t.change_time)}` + (t.change_ip ? ` from ${t.change_ip}` : ''))] : null,
      t.added ? [h('dt', {}, 'Added'), h('dd', {}, `${t.added} at ${fmtTime(t.added_time)}` + (t.added_device ? ` (${t.added_device})` : ''))] : null));
  }
  if (p.commands) {
    out.push(h('h3', {}, 'Commands outside entitlement'), h('p', {}, `${fmtNum(p.commands.outside_entitlement)} distinct vehicle(s) in the detector's window`),
      (p.commands.vehicles || []).length ? h('ul', {class: 'tags'}, p.commands.vehicles.map((v) => h('li', {}, v))) : null);
  }
  if (p.reads) {
    const r = p.reads;
    out.push(h('h3', {}, 'API reads'), h('dl', {class: 'kv'},
      h('dt', {}, 'Vehicles read without entitlement'), h('dd', {}, fmtNum(r.unlinked_vehicles)),
      h('dt', {}, 'Lookups of other vehicles'), h('dd', {}, `${fmtNum(r.lookups)} (${fmtNum(r.lookups_not_found)} not found)`),
      h('dt', {}, 'Addresses'), h('dd', {}, fmtNum(r.ips)),
      h('dt', {}, 'Last request'), h('dd', {}, r.last_time ? `${fmtTime(r.last_time)} from ${r.last_ip || '?'}` : '—')));
  }
  if (p.privileged_reads) {
    const r = p.privileged_reads;
    out.push(h('h3', {}, 'Privileged reads'), h('p', {},
      `${fmtNum(r.outside_inventory)} vehicle(s) outside the inventory, ${fmtNum(r.located)} located, ${fmtNum(r.out_of_hours)} out of office hours.`));
  }
  return out;
}

export async function render(main, ctx) {
  const [tenant, kind, value] = ctx.params;
  if (!PRINCIPAL_KINDS[kind]) {
    put(main, heading('Not a kind of principal'), h('p', {}, `"${kind}" is not one of ${Object.keys(PRINCIPAL_KINDS).join(', ')}.`));
    return;
  }
  put(main, h('p', {class: 'crumbs'}, h('a', {href: '#/alerts?' + new URLSearchParams({kind, entity: value, status: 'any'})}, `Alerts of this ${PRINCIPAL_KINDS[kind].toLowerCase()}`)),
    heading(PRINCIPAL_KINDS[kind] + ' ' + value), h('p', {class: 'muted'}, 'Tenant ' + tenant));
  const stateSec = h('section', {class: 'card', 'aria-labelledby': 'h-pstate'}, h('h2', {id: 'h-pstate'}, 'What detection holds'), h('p', {class: 'muted'}, 'Loading…'));
  const alertSec = h('section', {class: 'card', 'aria-labelledby': 'h-palerts'}, h('h2', {id: 'h-palerts'}, 'Alerts'), h('p', {class: 'muted'}, 'Loading…'));
  const tlSec = h('section', {class: 'card wide', 'aria-labelledby': 'h-ptl'}, h('h2', {id: 'h-ptl'}, 'Timeline'), h('p', {class: 'muted'}, 'Loading…'));
  put(main, h('div', {class: 'grid'}, stateSec, alertSec, tlSec));

  const [stateR, alertsR] = await Promise.allSettled([api.principal(tenant, kind, value),
    api.alerts({tenant, kind, entity: value, limit: 100})]);

  let end = Date.now();
  put(clear(stateSec), h('h2', {id: 'h-pstate'}, 'What detection holds'));
  if (stateR.status === 'fulfilled') {
    if (stateR.value.last_seen) end = Date.parse(stateR.value.last_seen);
    put(stateSec, stateOf(tenant, stateR.value));
  } else {
    put(stateSec, errorBox(stateR.reason, 'Nothing held'),
      h('p', {class: 'help'}, 'Detection keeps state only while a detector needs it; the timeline below still shows what it did.'));
  }

  put(clear(alertSec), h('h2', {id: 'h-palerts'}, 'Alerts'));
  let alerts = [];
  if (alertsR.status === 'fulfilled') {
    alerts = alertsR.value.alerts;
    if (alerts.length && stateR.status !== 'fulfilled') end = Math.max(...alerts.map((a) => Date.parse(a.last_seen)));
    put(alertSec, alerts.length ? table('Alerts', ['Severity', 'Time (UTC)', 'Alert', 'Status', 'Incident'], alerts.map((a) => [
      severityBadge(a.severity), timeEl(a.time), a.title, statusBadge(a.status),
      a.incident ? h('a', {href: '#/incidents/' + encodeURIComponent(a.incident)}, 'Open') : '—'])) :
      h('p', {class: 'muted'}, 'No alert names it.'));
  } else {
    put(alertSec, errorBox(alertsR.reason, 'Could not load the alerts'));
  }

  if (kind === 'subnet') {
    put(clear(tlSec), h('h2', {id: 'h-ptl'}, 'Timeline'), h('p', {class: 'muted'}, 'Events are indexed by address, not by subnet: open an address of it.'));
    return;
  }
  const from = new Date(end - WINDOW_MS).toISOString();
  const to = new Date(end + 1).toISOString();
  let tl;
  try {
    tl = await allEvents({tenant, kind, value, from, to, order: 'oldest'}, 3000, ctx.signal);
  } catch (e) {
    if (ctx.signal.aborted) return null; // left while loading
    put(clear(tlSec), h('h2', {id: 'h-ptl'}, 'Timeline'), errorBox(e, 'Could not load the timeline'));
    return;
  }
  const evidence = new Set();
  for (const a of alerts) for (const r of a.evidence || []) evidence.add(refKey(r.source, r.id));
  put(clear(tlSec), h('h2', {id: 'h-ptl'}, 'Timeline'),
    h('p', {class: 'help'}, `Its events from ${fmtTime(from)} to ${fmtTime(to)}, newest first` + (tl.truncated ? ' (the first 3,000)' : '') + '.'),
    timeline(tl.events, alerts.filter((a) => tms(a.time) >= tms(from) && tms(a.time) <= tms(to)), evidence, {id: 'prin', newestFirst: true, caption: 'Timeline of ' + value}));
}
