// The detectors and rules the engine runs: mode (enabled, shadow or off, and
// per-tenant overrides), events seen, alerts raised and stored as shadow,
// cost per event and when each last fired.
import {h, heading, scroller, errorBox, fmtNum, CATEGORIES, put} from '../dom.js';
import {api} from '../api.js';

function cost(ns) {
  if (!ns) return '—';
  return ns < 1000 ? ns.toFixed(0) + ' ns' : (ns / 1000).toFixed(1) + ' µs';
}

// modeCell shows a detector's mode and the tenants that override it.
function modeCell(x) {
  const mode = x.mode || 'enabled';
  const over = (x.tenant_modes || []).map((o) => o.tenant + ': ' + o.mode);
  return [h('span', {class: 'mode mode-' + mode}, mode), over.length ? h('div', {class: 'small muted'}, over.join(', ')) : null];
}

function when(t) {
  return t ? t.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : 'never';
}

export async function render(main) {
  put(main, heading('Detectors and rules'));
  let d;
  try {
    d = await api.detectors();
  } catch (e) {
    put(main, errorBox(e, 'Could not load the detectors'));
    return;
  }
  const dets = [...d.detectors].sort((a, b) => CATEGORIES.indexOf(a.category) - CATEGORIES.indexOf(b.category) || a.id.localeCompare(b.id));
  const rules = d.rules || [];
  put(main,
    h('p', {class: 'help'}, dets.length + ' built-in detectors and ' + rules.length + ' rules. Counts are since the server started; ' +
      'cost is the mean time of one event, timed on one call in 64. A detector in shadow mode runs and stores its alerts marked shadow, ' +
      'without raising them: no incident, not in the alert queue (the API lists them: ', h('code', {}, 'GET /v1/alerts?shadow=true'),
      '), not sent to sinks that do not ask for them. An off detector does not run.'),
    scroller('Detectors', h('table', {},
      h('caption', {}, 'Built-in detectors'),
      h('thead', {}, h('tr', {}, ['Detector', 'Category', 'Mode', 'Events', 'Alerts', 'Shadow alerts', 'Cost per event', 'Last fired', 'What it finds']
        .map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, dets.map((x) => h('tr', {},
        h('td', {}, h('code', {}, x.id), h('div', {class: 'small'}, x.title)),
        h('td', {class: 'nowrap'}, x.category ? h('a', {href: '#/alerts?' + new URLSearchParams({category: x.category, status: 'any'})}, x.category) : '—'),
        h('td', {}, modeCell(x)),
        h('td', {class: 'num'}, fmtNum(x.events || 0)),
        h('td', {class: 'num'}, fmtNum(x.alerts || 0)),
        h('td', {class: 'num'}, fmtNum(x.shadow_alerts || 0)),
        h('td', {class: 'num nowrap'}, cost(x.mean_ns_per_event)),
        h('td', {class: 'nowrap small'}, when(x.last_alert)),
        h('td', {class: 'small'}, x.description)))))),
    rules.length === 0 ? h('p', {class: 'help'}, 'No rules are loaded.') :
      scroller('Rules', h('table', {},
        h('caption', {}, 'Rules, slowest first'),
        h('thead', {}, h('tr', {}, ['Rule', 'Kind', 'Evaluations', 'Matches', 'Alerts', 'Shadow alerts', 'Errors', 'Cost per evaluation']
          .map((t) => h('th', {scope: 'col'}, t)))),
        h('tbody', {}, rules.map((r) => h('tr', {},
          h('td', {}, h('code', {}, r.id)),
          h('td', {}, r.kind),
          h('td', {class: 'num'}, fmtNum(r.evaluations)),
          h('td', {class: 'num'}, fmtNum(r.matches)),
          h('td', {class: 'num'}, fmtNum(r.alerts)),
          h('td', {class: 'num'}, fmtNum(r.shadow_alerts)),
          h('td', {class: 'num'}, fmtNum(r.errors)),
          h('td', {class: 'num nowrap'}, cost(r.mean_ns_per_evaluation))))))));
}
