// A merged timeline of archived events (and the alerts among them), with
// the evidence highlighted and a filter by event type.
import {h, clear, timeEl, severityBadge, scroller, tms, put} from './dom.js';

const SHOW_MAX = 400;

export function refKey(source, id) { return source + '\u0000' + id; }

// merge dedupes events seen through several entities and sorts them by
// event time, then archive order.
export function merge(lists) {
  const seen = new Map();
  for (const l of lists) for (const e of l) seen.set(e.tenant + '\u0000' + refKey(e.source, e.id), e);
  return [...seen.values()].sort((a, b) => tms(a.time) - tms(b.time) || a.seq - b.seq);
}

function actorText(a) {
  if (!a) return '';
  return [a.account && 'account ' + a.account, a.role && '(' + a.role + ')', a.client_id && 'client ' + a.client_id,
    a.device && 'device ' + a.device, a.ip && 'from ' + a.ip].filter(Boolean).join(' ');
}

// summary says what an event was, in one line, for the event types of the
// ingest contract; others show their data compactly.
export function summary(e) {
  const d = (e.event && e.event.data) || {};
  switch (e.type) {
    case 'vehicle.telemetry': {
      const p = d.position;
      return [p ? `position ${p.lat.toFixed(5)}, ${p.lon.toFixed(5)}` : 'no position', d.speed !== undefined ? `${d.speed} km/h` : '',
        d.cell ? `cell ${d.cell.mcc}-${d.cell.mnc}` : ''].filter(Boolean).join(' · ');
    }
    case 'vehicle.command':
      return [`${d.command || '?'} command, ${d.stage || '?'}`, d.channel && 'via ' + d.channel, actorText(d.actor), d.command_id && '(' + d.command_id + ')'].filter(Boolean).join(' · ');
    case 'vehicle.event':
      return [d.name, d.origin && 'origin ' + d.origin, d.command_id && 'command ' + d.command_id].filter(Boolean).join(' · ');
    case 'auth.login':
      return [`login ${d.result || '?'}`, d.reason && '(' + d.reason + ')', d.method, actorText(d.actor), d.actor && d.actor.user_agent].filter(Boolean).join(' · ');
    case 'api.access':
      return [`${d.method || ''} ${d.route || ''} → ${d.status ?? '?'}`, d.records !== undefined && d.records + ' records',
        d.vehicles && d.vehicles.length + ' vehicles', d.fields && 'fields ' + d.fields.join(','), actorText(d.actor)].filter(Boolean).join(' · ');
    case 'account.change':
      return [`${d.change || '?'} changed on ${d.account || '?'}`, d.confirmed_by_previous_contact === false && 'not confirmed by the previous contact', actorText(d.actor)].filter(Boolean).join(' · ');
    case 'sms.message':
      return [`SMS ${d.direction || ''} ${d.kind || ''} ${d.command || ''}`.trim(), `${d.originator || '?'} → ${d.recipient || '?'}`, d.auth && 'auth ' + d.auth].filter(Boolean).join(' · ');
    case 'firmware.install':
      return [`${d.ecu || '?'} ${d.previous_version || '?'} → ${d.version || '?'}`, d.channel && 'via ' + d.channel, d.result, d.signature && 'signature ' + d.signature].filter(Boolean).join(' · ');
    case 'ids.report':
      return [`${d.event_id || '?'} on ${d.ecu || '?'}`, d.severity, d.count && '×' + d.count, d.sensor].filter(Boolean).join(' · ');
    default: {
      const t = JSON.stringify(d);
      return t.length > 160 ? t.slice(0, 157) + '…' : t;
    }
  }
}

// timeline renders events and alerts [{time, title, severity, id}] into a
// section; evidence is a Set of refKey(source, id).
export function timeline(events, alerts, evidence, opts) {
  opts = opts || {};
  const types = new Map();
  for (const e of events) types.set(e.type, (types.get(e.type) || 0) + 1);
  const hidden = new Set(opts.hide || []);
  const body = h('tbody', {});
  const note = h('p', {class: 'muted', 'aria-live': 'polite'});
  const filters = h('fieldset', {class: 'chips'}, h('legend', {}, 'Event types'),
    [...types.entries()].sort().map(([t, n]) => {
      const id = 'tl-' + (opts.id || 'x') + '-' + t.replace(/\W/g, '-');
      const c = h('input', {type: 'checkbox', id, checked: !hidden.has(t)});
      c.addEventListener('change', () => { c.checked ? hidden.delete(t) : hidden.add(t); draw(); });
      return h('span', {class: 'chip'}, c, h('label', {for: id}, t + ' (' + n + ')'));
    }));
  const ordered = opts.newestFirst ? [...events].reverse() : events;
  function draw() {
    clear(body);
    const rows = [];
    const al = [...alerts].sort((a, b) => tms(a.time) - tms(b.time));
    if (opts.newestFirst) al.reverse();
    let ai = 0;
    const before = (a, e) => (opts.newestFirst ? tms(a.time) >= tms(e.time) : tms(a.time) <= tms(e.time));
    let shown = 0, ev = 0;
    for (const e of ordered) {
      while (ai < al.length && before(al[ai], e)) rows.push(alertRow(al[ai++]));
      if (hidden.has(e.type)) continue;
      const isEv = evidence.has(refKey(e.source, e.id));
      if (isEv) ev++;
      if (shown >= SHOW_MAX && !isEv) continue;
      shown++;
      rows.push(h('tr', {class: isEv ? 'evidence' : ''},
        h('td', {class: 'nowrap'}, timeEl(e.time)),
        h('td', {}, h('span', {class: 'etype'}, e.type), isEv ? h('span', {class: 'ev-badge'}, 'evidence') : null),
        h('td', {class: 'nowrap'}, e.subject || ''),
        h('td', {}, summary(e)),
        h('td', {class: 'muted small'}, e.source)));
    }
    while (ai < al.length) rows.push(alertRow(al[ai++]));
    put(body, ...rows);
    const total = ordered.filter((e) => !hidden.has(e.type)).length;
    note.textContent = total > shown ? `Showing ${shown} of ${total} events (all evidence included); narrow the types to see the rest.` :
      `${shown} events, ${ev} of them evidence.`;
  }
  function alertRow(a) {
    return h('tr', {class: 'alert-row'},
      h('td', {class: 'nowrap'}, timeEl(a.time)),
      h('td', {}, severityBadge(a.severity)),
      h('td', {}, ''),
      h('td', {colspan: 2}, h('strong', {}, 'Alert: '), a.title));
  }
  draw();
  const table = h('table', {class: 'timeline'},
    h('caption', {class: 'visually-hidden'}, opts.caption || 'Timeline'),
    h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Time (UTC)'), h('th', {scope: 'col'}, 'Type'), h('th', {scope: 'col'}, 'Subject'),
      h('th', {scope: 'col'}, 'What happened'), h('th', {scope: 'col'}, 'Source'))),
    body);
  return h('div', {class: 'tl'}, types.size > 1 ? filters : null, note, scroller(opts.caption || 'Timeline', table));
}
