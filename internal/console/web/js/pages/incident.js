// One incident: what happened, its alerts, everything the involved vehicles,
// accounts, IPs, devices and clients did around it, where it happened, the
// framework mappings, and its triage (status, assignee, comments, history).
import {h, clear, heading, timeEl, fmtTime, severityBadge, statusBadge, entityList, scroller, announce, errorBox,
  STATUSES, statusLabel, tms, plural, put} from '../dom.js';
import {api, allEvents, pool} from '../api.js';
import {trackMap, fixesOf} from '../map.js';
import {caller, mayTriage} from '../caller.js';
import {timeline, merge, refKey} from '../timeline.js';

const TIMELINE_KINDS = ['vehicle', 'account', 'ip', 'device', 'client'];
const MAX_ENTITIES = 12;
const MAX_PER_ENTITY = 2000;
const WINDOWS = [['1800000', '30 minutes'], ['7200000', '2 hours'], ['43200000', '12 hours']];

export async function render(main, ctx) {
  const id = ctx.params[0];
  const win = WINDOWS.some(([v]) => v === ctx.query.get('around')) ? ctx.query.get('around') : WINDOWS[0][0];
  put(main, heading('Incident'), h('p', {class: 'muted'}, 'Loading the incident…'));
  let inc, me = null;
  try {
    [inc, me] = await Promise.all([api.incident(id), caller().catch(() => null)]);
  } catch (e) {
    put(clear(main), heading('Incident'), errorBox(e, 'Could not load incident ' + id),
      h('p', {}, h('a', {href: '#/alerts'}, 'Back to the alert queue')));
    return;
  }
  clear(main);
  const head = h('div', {class: 'inc-head'});
  const history = h('section', {'aria-labelledby': 'h-history', class: 'card'});
  const triage = h('section', {'aria-labelledby': 'h-triage', class: 'card triage'});
  const where = h('section', {'aria-labelledby': 'h-map', class: 'card'}, h('h2', {id: 'h-map'}, 'Where'), h('p', {class: 'muted'}, 'Loading positions…'));
  const when = h('section', {'aria-labelledby': 'h-timeline', class: 'card wide'},
    h('h2', {id: 'h-timeline'}, 'Timeline'), h('p', {class: 'muted'}, 'Loading the events of the involved entities…'));

  function drawHead() {
    const title = incidentTitle(inc);
    put(clear(head), 
      h('p', {class: 'crumbs'}, h('a', {href: '#/alerts'}, 'Alert queue'), ' › ', h('a', {href: '#/incidents'}, 'Incidents'), ' › ', h('code', {}, inc.id)),
      heading(title),
      h('div', {class: 'facts'},
        severityBadge(inc.severity), statusBadge(inc.status),
        h('span', {}, 'Tenant ', h('strong', {}, inc.tenant)),
        h('span', {}, timeEl(inc.first_seen), ' → ', timeEl(inc.last_seen)),
        h('span', {}, plural(inc.alert_count, 'alert')),
        h('span', {}, 'Assignee ', inc.assignee ? h('strong', {}, inc.assignee) : h('em', {}, 'nobody'))),
      h('div', {class: 'ents'}, entityList(inc.tenant, inc.entities, 16)));
  }

  function drawHistory() {
    put(clear(history), h('h2', {id: 'h-history'}, 'History and comments'));
    const items = (inc.history || []).slice().reverse();
    if (!items.length) { put(history, h('p', {class: 'muted'}, 'No change yet.')); return; }
    put(history, h('ol', {class: 'history', reversed: true}, items.map((x) => h('li', {class: 'hist-' + x.action},
      timeEl(x.time), ' ', h('span', {class: 'actor'}, x.actor), ' ',
      x.action === 'comment' ? [h('span', {}, 'commented:'), h('blockquote', {}, x.new)] :
      x.action === 'status' ? ['set the status ', h('strong', {}, statusLabel(x.old) || '—'), ' → ', h('strong', {}, statusLabel(x.new))] :
      x.action === 'assignee' ? ['assigned ', h('strong', {}, x.old || 'nobody'), ' → ', h('strong', {}, x.new || 'nobody')] :
      x.action === 'created' ? 'created the incident' : [x.action, x.new ? ': ' + x.new : '']))));
  }

  function drawTriage() {
    if (me && !mayTriage(me)) {
      put(clear(triage), h('h2', {id: 'h-triage'}, 'Triage'),
        h('p', {class: 'help', id: 'read-only'}, 'Your key is a viewer key: status, assignee and comments need an analyst or admin key.'),
        h('dl', {class: 'kv'}, h('dt', {}, 'Status'), h('dd', {}, statusBadge(inc.status)),
          h('dt', {}, 'Assignee'), h('dd', {}, inc.assignee || 'nobody')));
      return;
    }
    const st = h('select', {id: 'inc-status', name: 'status'}, STATUSES.map((s) => h('option', {value: s, selected: s === inc.status}, statusLabel(s))));
    const who = h('input', {id: 'inc-assignee', name: 'assignee', value: inc.assignee || '', autocomplete: 'off'});
    const comment = h('textarea', {id: 'inc-comment', name: 'comment', rows: 3, maxlength: 16384, placeholder: 'What you found, what you did'});
    const msg = h('div', {class: 'feedback', 'aria-live': 'polite'});
    const fp = h('div', {class: 'fp-offer', hidden: inc.status !== 'false_positive'});
    const save = h('button', {type: 'submit', class: 'primary'}, 'Save');
    const form = h('form', {class: 'stack', 'aria-labelledby': 'h-triage'},
      h('div', {class: 'field'}, h('label', {for: 'inc-status'}, 'Status'), st),
      h('div', {class: 'field'}, h('label', {for: 'inc-assignee'}, 'Assignee'), who),
      h('div', {class: 'field'}, h('label', {for: 'inc-comment'}, 'Comment'), comment),
      fp, save, msg);
    const showFP = () => {
      fp.hidden = st.value !== 'false_positive';
      if (!fp.hidden && !fp.firstChild) put(fp, ...[].concat(suppressionOffer(inc)));
    };
    st.addEventListener('change', showFP);
    showFP();
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = {};
      if (st.value !== inc.status) body.status = st.value;
      if (who.value.trim() !== (inc.assignee || '')) body.assignee = who.value.trim();
      if (comment.value.trim()) body.comment = comment.value.trim();
      if (!Object.keys(body).length) { put(clear(msg), h('p', {class: 'muted'}, 'Nothing changed.')); return; }
      save.disabled = true;
      try {
        inc = {...inc, ...(await api.patchIncident(inc.id, body))};
        comment.value = '';
        drawHead(); drawHistory();
        put(clear(msg), h('p', {class: 'ok'}, 'Saved.'));
        announce('Incident saved');
      } catch (x) {
        put(clear(msg), errorBox(x, 'Not saved'));
      } finally {
        save.disabled = false;
      }
    });
    put(clear(triage), h('h2', {id: 'h-triage'}, 'Triage'), form);
  }

  const alerts = inc.alerts || [];
  const what = h('section', {'aria-labelledby': 'h-what', class: 'card wide'}, h('h2', {id: 'h-what'}, 'What happened'),
    explain(alerts));
  const alertTable = h('section', {'aria-labelledby': 'h-alerts', class: 'card wide'}, h('h2', {id: 'h-alerts'}, 'Alerts (' + alerts.length + ')'),
    scroller('Alerts of the incident', h('table', {},
      h('caption', {class: 'visually-hidden'}, 'Alerts of this incident, oldest first'),
      h('thead', {}, h('tr', {}, ['Severity', 'Time (UTC)', 'Alert', 'Category', 'Detector', 'Entities', 'Status'].map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, alerts.map((a) => h('tr', {},
        h('td', {}, severityBadge(a.severity)), h('td', {class: 'nowrap'}, timeEl(a.time)), h('td', {}, a.title),
        h('td', {}, a.category), h('td', {}, h('code', {}, a.detector)), h('td', {class: 'ents'}, entityList(a.tenant, a.entities, 3)),
        h('td', {}, statusBadge(a.status)))))), 'tall'));
  const maps = h('section', {'aria-labelledby': 'h-maps', class: 'card'}, h('h2', {id: 'h-maps'}, 'Framework mappings'), mappings(alerts));
  const winSel = h('select', {id: 'around'}, WINDOWS.map(([v, t]) => h('option', {value: v, selected: v === win}, '± ' + t)));
  winSel.addEventListener('change', () => { location.hash = '#/incidents/' + encodeURIComponent(id) + '?around=' + winSel.value; });

  drawHead(); drawHistory(); drawTriage();
  put(main, head,
    h('div', {class: 'grid'}, what, triage, where, maps, when, alertTable, history));

  // The timeline and the map: the events of every involved entity in the
  // window, merged.
  const pad = Number(win);
  const from = new Date(Date.parse(inc.first_seen) - pad).toISOString();
  const to = new Date(Date.parse(inc.last_seen) + pad + 1).toISOString();
  const ents = (inc.entities || []).filter((e) => TIMELINE_KINDS.includes(e.kind)).slice(0, MAX_ENTITIES);
  const res = await pool(ents, 3, (e) => allEvents({tenant: inc.tenant, kind: e.kind, value: e.value, from, to, order: 'oldest'}, MAX_PER_ENTITY, ctx.signal));
  if (ctx.signal.aborted) return null; // left while loading
  const failed = res.filter((r) => !r.ok);
  const events = merge(res.filter((r) => r.ok).map((r) => r.value.events));
  const truncated = res.filter((r) => r.ok && r.value.truncated).length;
  const evidence = new Set();
  for (const a of alerts) for (const r of a.evidence || []) evidence.add(refKey(r.source, r.id));

  put(clear(when), h('h2', {id: 'h-timeline'}, 'Timeline'),
    h('div', {class: 'field inline'}, h('label', {for: 'around'}, 'Around the incident'), winSel),
    h('p', {class: 'help'}, `Everything ${ents.map((e) => e.value).join(', ') || 'the entities'} did from ${fmtTime(from)} to ${fmtTime(to)}, with the alerts; evidence is highlighted.`),
    failed.length ? errorBox(failed[0].error, 'Some timelines could not be read') : null,
    truncated ? h('p', {class: 'warn'}, `${truncated} of the entities did more than ${MAX_PER_ENTITY} things in this window; their first ${MAX_PER_ENTITY} events are shown.`) : null,
    (inc.entities || []).length > ents.length ? h('p', {class: 'muted'}, 'SIM numbers (MSISDN) have no timeline of their own; their SMS appear under the vehicle.') : null,
    timeline(events, alerts, evidence, {id: 'inc', caption: 'Timeline of the incident'}));

  // Map: one track per vehicle; alerts at their evidence's position, or
  // where their vehicle last was at the alert's time.
  const fixes = fixesOf(events);
  const byVehicle = new Map();
  for (const f of fixes) {
    if (!byVehicle.has(f.vehicle)) byVehicle.set(f.vehicle, []);
    byVehicle.get(f.vehicle).push(f);
  }
  const markers = [];
  for (const a of alerts) {
    const own = fixes.filter((f) => (a.evidence || []).some((r) => refKey(r.source, r.id) === f.ref));
    let at = own.length ? own[own.length - 1] : null;
    if (!at && a.entities && a.entities.vehicle && byVehicle.has(a.entities.vehicle)) {
      const track = byVehicle.get(a.entities.vehicle);
      at = track.filter((f) => f.ms <= tms(a.time)).pop() || track[0];
    }
    if (at) markers.push({lat: at.lat, lon: at.lon, label: a.title});
  }
  put(clear(where), h('h2', {id: 'h-map'}, 'Where'),
    trackMap('Tracks of the involved vehicles and the alert locations',
      [...byVehicle.entries()].map(([v, pts]) => ({label: v, points: pts})), markers));
}

// explain lists what the detectors found, one item per detector, with how
// many alerts it raised here.
function explain(alerts) {
  const by = new Map();
  for (const a of alerts) {
    const g = by.get(a.detector) || {a, n: 0};
    g.n++;
    by.set(a.detector, g);
  }
  return h('ul', {class: 'explain'}, [...by.values()].map(({a, n}) => h('li', {},
    severityBadge(a.severity), ' ', h('strong', {}, a.title), n > 1 ? h('span', {class: 'muted'}, ' and ' + plural(n - 1, 'similar alert')) : null,
    h('p', {}, a.explanation))));
}

export function incidentTitle(inc) {
  const cats = (inc.categories || []).join(', ') || 'incident';
  const main = (inc.entities || []).find((e) => e.kind === 'vehicle') || (inc.entities || [])[0];
  return cats.charAt(0).toUpperCase() + cats.slice(1) + (main ? ' · ' + main.value : '');
}

function mappings(alerts) {
  const groups = [['r155', 'UN R155 Annex 5'], ['atm', 'Auto-ISAC ATM'], ['attack', 'MITRE ATT&CK']];
  const dl = h('dl', {class: 'kv mappings'});
  for (const [k, label] of groups) {
    const ids = [...new Set(alerts.flatMap((a) => (a.mappings && a.mappings[k]) || []))].sort();
    dl.append(h('dt', {}, label), h('dd', {}, ids.length ? h('ul', {class: 'tags'}, ids.map((x) => h('li', {}, h('code', {}, x)))) : '—'));
  }
  return dl;
}

// suppressionOffer proposes the configuration that would suppress alerts
// like these (the API has no suppression route yet: see docs/console.md).
function suppressionOffer(inc) {
  const a = (inc.alerts || [])[0];
  if (!a) return h('p', {}, 'No alert to suppress.');
  const ent = (a.entities && (a.entities.account || a.entities.vehicle || a.entities.ip || a.entities.client_id)) || '';
  const yaml = 'suppressions:\n' +
    `  - tenant: ${JSON.stringify(inc.tenant)}\n` +
    `    detector: ${JSON.stringify(a.detector)}\n` +
    (ent ? `    entity: ${JSON.stringify(ent)}\n` : '') +
    `    until: ${JSON.stringify(new Date(Date.now() + 30 * 86400e3).toISOString().slice(0, 19) + 'Z')}\n` +
    `    reason: ${JSON.stringify('false positive: incident ' + inc.id)}\n`;
  const pre = h('pre', {tabindex: '0', 'aria-label': 'Suggested suppression'}, yaml);
  const copy = h('button', {type: 'button', class: 'ghost'}, 'Copy');
  copy.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(yaml); copy.textContent = 'Copied'; } catch (e) { copy.textContent = 'Select and copy by hand'; }
  });
  return [h('p', {}, 'Suppress alerts like these? Add this to the suppressions of the configuration file (docs/configuration.md):'), pre, copy];
}
