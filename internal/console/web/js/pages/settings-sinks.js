// Settings › Sinks: the outbound alert sinks (webhook, syslog, NATS, MQTT,
// Kafka), read-only: where each delivers (secrets redacted), what its filter
// admits, its delivery status since the server started, and its lag: the
// alerts stored that it has not handled yet (they wait in the store).
import {h, clear, put, fmtNum, errorBox, scroller} from '../dom.js';
import {api} from '../api.js';
import {isAdmin} from '../caller.js';

const DROP_REASONS = {
  retries_exhausted: 'retries exhausted',
  rejected: 'refused by the destination',
};

function when(t) {
  return t ? t.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'never';
}

function filterText(f) {
  const parts = [];
  parts.push(f.tenants && f.tenants.length ? 'tenants ' + f.tenants.join(', ') : 'every tenant');
  if (f.min_severity) parts.push(f.min_severity + ' and above');
  if (f.categories && f.categories.length) parts.push(f.categories.join(', '));
  parts.push(f.include_shadow ? 'shadow alerts too' : 'no shadow alerts');
  return parts.join('; ');
}

function dropText(st) {
  if (!st.dropped_total) return '0';
  return fmtNum(st.dropped_total) + ' (' + Object.entries(st.dropped)
    .filter(([, n]) => n > 0).map(([r, n]) => fmtNum(n) + ' ' + (DROP_REASONS[r] || r)).join(', ') + ')';
}

// sinksSection returns the section and fills it in when the list arrives.
export function sinksSection(me) {
  const sec = h('section', {class: 'card wide', 'aria-labelledby': 'h-sinks'}, h('h2', {id: 'h-sinks'}, 'Sinks'));
  if (!isAdmin(me)) {
    put(sec, h('p', {}, 'Only an admin sees the outbound sinks (webhook, syslog, NATS, MQTT, Kafka) and their delivery status.'),
      h('p', {class: 'help'}, 'Alerts are also read here, with ', h('code', {}, 'GET /v1/alerts'), ', or as they happen with ',
        h('code', {}, 'GET /v1/alerts/stream'), '.'));
    return sec;
  }
  put(sec, h('p', {class: 'muted'}, 'Loading the sinks…'));
  show(sec);
  return sec;
}

async function show(sec) {
  let d;
  try {
    d = await api.get('/v1/sinks');
  } catch (e) {
    put(clear(sec), h('h2', {id: 'h-sinks'}, 'Sinks'), errorBox(e, 'Could not list the sinks'));
    return;
  }
  const head = h('h2', {id: 'h-sinks'}, 'Sinks');
  if (!d.sinks.length) {
    put(clear(sec), head, h('p', {}, 'There are no outbound sinks your key may see: vigil sends alerts nowhere. ',
      'Sinks are set in the configuration file (', h('code', {}, 'sinks:'), ', see docs/sinks.md).'));
    return;
  }
  put(clear(sec), head,
    h('p', {class: 'help'}, 'Read-only: sinks are set in the configuration file (docs/sinks.md). Counts are since the server started; ',
      'an alert that could not be delivered is counted as dropped, with the reason, and logged. ',
      'Lag is the number of alerts stored that the sink has not handled yet: they wait in the store, and a restart does not lose them.'),
    scroller('Sinks', h('table', {},
      h('caption', {class: 'visually-hidden'}, 'Outbound sinks and their delivery status'),
      h('thead', {}, h('tr', {}, ['Sink', 'Delivers to', 'Filter', 'Delivered', 'Lag', 'Failed attempts', 'Dropped', 'Last delivery', 'Last error']
        .map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, d.sinks.map((s) => h('tr', {class: s.status.dropped_total ? 'warn' : ''},
        h('th', {scope: 'row'}, h('code', {}, s.name), h('div', {class: 'small muted'}, s.type)),
        h('td', {class: 'small'}, h('code', {}, s.target)),
        h('td', {class: 'small'}, filterText(s.filter)),
        h('td', {class: 'num'}, fmtNum(s.status.delivered)),
        h('td', {class: 'num'}, fmtNum(s.status.lag)),
        h('td', {class: 'num'}, fmtNum(s.status.failed_attempts)),
        h('td', {class: 'num'}, dropText(s.status)),
        h('td', {class: 'nowrap small'}, when(s.status.last_delivered)),
        h('td', {class: 'small'}, s.status.last_error ? [h('div', {}, s.status.last_error), h('div', {class: 'muted'}, when(s.status.last_error_at))] : '—')))))));
}
