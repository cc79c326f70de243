// A vehicle: its digital twin as detection sees it now, its recent track,
// its timeline and its alerts.
import {h, clear, heading, timeEl, fmtTime, severityBadge, statusBadge, scroller, errorBox, tms, put, entityHref} from '../dom.js';
import {api, allEvents} from '../api.js';
import {trackMap, fixesOf} from '../map.js';
import {timeline, refKey} from '../timeline.js';

const WINDOW_MS = 6 * 3600e3;

export async function render(main, ctx) {
  const [tenant, vin] = ctx.params;
  put(main, h('p', {class: 'crumbs'}, h('a', {href: '#/alerts?' + new URLSearchParams({kind: 'vehicle', entity: vin, status: 'any'})}, 'Alerts of this vehicle')),
    heading('Vehicle ' + vin), h('p', {class: 'muted'}, 'Tenant ' + tenant));
  const twinSec = h('section', {class: 'card', 'aria-labelledby': 'h-twin'}, h('h2', {id: 'h-twin'}, 'Digital twin'), h('p', {class: 'muted'}, 'Loading…'));
  const mapSec = h('section', {class: 'card', 'aria-labelledby': 'h-map'}, h('h2', {id: 'h-map'}, 'Track'), h('p', {class: 'muted'}, 'Loading…'));
  const alertSec = h('section', {class: 'card wide', 'aria-labelledby': 'h-valerts'}, h('h2', {id: 'h-valerts'}, 'Alerts'), h('p', {class: 'muted'}, 'Loading…'));
  const tlSec = h('section', {class: 'card wide', 'aria-labelledby': 'h-vtl'}, h('h2', {id: 'h-vtl'}, 'Timeline'), h('p', {class: 'muted'}, 'Loading…'));
  put(main, h('div', {class: 'grid'}, twinSec, mapSec, alertSec, tlSec));

  const [twinR, alertsR] = await Promise.allSettled([api.vehicle(tenant, vin),
    api.alerts({tenant, kind: 'vehicle', entity: vin, limit: 100})]);

  // Twin.
  let end = Date.now();
  put(clear(twinSec), h('h2', {id: 'h-twin'}, 'Digital twin'));
  if (twinR.status === 'fulfilled') {
    const t = twinR.value;
    if (t.last_event) end = Date.parse(t.last_event);
    const f = t.last_fix;
    put(twinSec, h('dl', {class: 'kv'},
      h('dt', {}, 'Lock'), h('dd', {}, t.lock), h('dt', {}, 'Ignition'), h('dd', {}, t.ignition),
      h('dt', {}, 'Last position'), h('dd', {}, f ? `${f.lat.toFixed(5)}, ${f.lon.toFixed(5)} at ${f.speed} km/h, ${fmtTime(f.time)}` : '—'),
      f && f.odometer !== undefined ? [h('dt', {}, 'Odometer'), h('dd', {}, Math.round(f.odometer / 1000).toLocaleString('en-US') + ' km')] : null,
      h('dt', {}, 'Firmware'), h('dd', {}, t.firmware || '—'),
      h('dt', {}, 'IMEI / ICCID'), h('dd', {}, (t.imei || '—') + ' / ' + (t.iccid || '—')),
      h('dt', {}, 'Last event'), h('dd', {}, timeEl(t.last_event)),
      h('dt', {}, 'Last alert'), h('dd', {}, timeEl(t.last_alert)),
      h('dt', {}, 'Linked principals'), h('dd', {}, (t.accounts_seen || []).length ? h('ul', {class: 'tags'}, t.accounts_seen.map((a) =>
        h('li', {}, h('a', {href: entityHref(tenant, 'account', a)}, a)))) : '—')),
    (t.ecus || []).length ? [h('h3', {}, 'ECUs'), h('ul', {class: 'tags'}, t.ecus.map((e) => h('li', {}, e.ecu + ' ' + e.version)))] : null,
    (t.recent_commands || []).length ? [h('h3', {}, 'Recent commands'), scroller('Recent commands', h('table', {},
      h('thead', {}, h('tr', {}, ['Command', 'First', 'Last', 'Stages'].map((x) => h('th', {scope: 'col'}, x)))),
      h('tbody', {}, t.recent_commands.map((c) => h('tr', {}, h('td', {}, c.command), h('td', {}, timeEl(c.first)), h('td', {}, timeEl(c.last)),
        h('td', {}, c.stages.join(' → ') + (c.stages.includes('acknowledged') || c.stages.includes('completed') ? '' : ' (open)')))))))] : null);
  } else {
    put(twinSec, errorBox(twinR.reason, 'No twin'),
      h('p', {class: 'help'}, 'Detection keeps a twin only for vehicles it has seen since its state was last restored; the archive below still shows what the vehicle did.'));
  }

  // Alerts.
  put(clear(alertSec), h('h2', {id: 'h-valerts'}, 'Alerts'));
  let alerts = [];
  if (alertsR.status === 'fulfilled') {
    alerts = alertsR.value.alerts;
    if (alerts.length && twinR.status !== 'fulfilled') end = Math.max(...alerts.map((a) => Date.parse(a.last_seen)));
    put(alertSec, alerts.length ? scroller('Alerts of the vehicle', h('table', {},
      h('thead', {}, h('tr', {}, ['Severity', 'Time (UTC)', 'Alert', 'Category', 'Status', 'Incident'].map((x) => h('th', {scope: 'col'}, x)))),
      h('tbody', {}, alerts.map((a) => h('tr', {}, h('td', {}, severityBadge(a.severity)), h('td', {class: 'nowrap'}, timeEl(a.time)),
        h('td', {}, a.title), h('td', {}, a.category), h('td', {}, statusBadge(a.status)),
        h('td', {}, a.incident ? h('a', {href: '#/incidents/' + encodeURIComponent(a.incident)}, 'Open') : '—')))))) :
      h('p', {class: 'muted'}, 'No alert names this vehicle.'),
    alertsR.value.next ? h('p', {}, h('a', {href: '#/alerts?' + new URLSearchParams({kind: 'vehicle', entity: vin, status: 'any'})}, 'All alerts of this vehicle →')) : null);
  } else {
    put(alertSec, errorBox(alertsR.reason, 'Could not load the alerts'));
  }

  // Track and timeline: the last six hours of the vehicle's events.
  const from = new Date(end - WINDOW_MS).toISOString();
  const to = new Date(end + 1).toISOString();
  let tl;
  try {
    tl = await allEvents({tenant, kind: 'vehicle', value: vin, from, to, order: 'oldest'}, 3000, ctx.signal);
  } catch (e) {
    if (ctx.signal.aborted) return null; // left while loading
    put(clear(tlSec), h('h2', {id: 'h-vtl'}, 'Timeline'), errorBox(e, 'Could not load the timeline'));
    put(clear(mapSec), h('h2', {id: 'h-map'}, 'Track'), errorBox(e, 'Could not load the track'));
    return;
  }
  const evidence = new Set();
  for (const a of alerts) for (const r of a.evidence || []) evidence.add(refKey(r.source, r.id));
  const markers = [];
  const fixes = fixesOf(tl.events);
  for (const a of alerts) {
    if (tms(a.time) < tms(from) || tms(a.time) > tms(to)) continue;
    const at = fixes.filter((f) => f.ms <= tms(a.time)).pop();
    if (at) markers.push({lat: at.lat, lon: at.lon, label: a.title});
  }
  put(clear(mapSec), h('h2', {id: 'h-map'}, 'Track'),
    h('p', {class: 'help'}, `${fmtTime(from)} → ${fmtTime(to)}`),
    trackMap('Track of ' + vin, [{label: vin, points: fixes}], markers));
  put(clear(tlSec), h('h2', {id: 'h-vtl'}, 'Timeline'),
    h('p', {class: 'help'}, `The vehicle's events from ${fmtTime(from)} to ${fmtTime(to)}, newest first` + (tl.truncated ? ' (the first 3,000)' : '') + '.'),
    timeline(tl.events, alerts.filter((a) => tms(a.time) >= tms(from) && tms(a.time) <= tms(to)), evidence, {id: 'veh', newestFirst: true, caption: 'Timeline of the vehicle'}));
}
