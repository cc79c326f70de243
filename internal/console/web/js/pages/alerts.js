// The alert queue: filters and paging done by the server (the store may
// hold 100,000 alerts), bulk triage (one PATCH per alert), and live updates:
// new alerts from the server's stream, with polling of the first page as
// the fallback (and, slowly, for changes other analysts make).
import {h, clear, heading, timeEl, severityBadge, statusBadge, entityList, scroller, announce, errorBox,
  SEVERITIES, STATUSES, CATEGORIES, statusLabel, tms, put} from '../dom.js';
import {api, pool} from '../api.js';
import {liveAlerts, livePill} from '../live.js';
import {caller, mayTriage} from '../caller.js';

const PAGE = 50;
const POLL_MS = 5000;        // without the stream
const LIVE_POLL_MS = 30000;  // with it: only others' triage is polled for
const MAX_ROWS = PAGE * 4;   // live rows beyond this: reload the page
const OPEN = 'new,acknowledged';

// filtersFrom reads the queue's filters from the route's query.
function filtersFrom(q) {
  return {
    tenant: q.get('tenant') || '', category: q.get('category') || '', severity: q.get('severity') || '',
    status: q.has('status') ? q.get('status') : OPEN, kind: q.get('kind') || '', entity: q.get('entity') || '',
    from: q.get('from') || '', to: q.get('to') || '', cursor: q.get('cursor') || '',
  };
}

function apiParams(f) {
  return {tenant: f.tenant, category: f.category, severity: f.severity, status: f.status === 'any' ? '' : f.status,
    kind: f.entity ? f.kind : '', entity: f.entity, from: toRFC(f.from), to: toRFC(f.to), limit: PAGE, cursor: f.cursor};
}

// Times in the filter are typed and shown in UTC, as everywhere else.
function toRFC(local) { return local ? local + (local.length === 16 ? ':00Z' : 'Z') : ''; }

// admits says whether a streamed alert belongs on this view of the queue:
// the stream already filtered tenant, category and severity.
function admits(f, a) {
  if (f.cursor) return false; // only the first page takes new alerts
  if (f.status !== 'any' && !f.status.split(',').includes(a.status)) return false;
  if (f.from && tms(a.time) < tms(toRFC(f.from))) return false;
  if (f.to && tms(a.time) >= tms(toRFC(f.to))) return false;
  if (f.entity) {
    const e = a.entities || {};
    const of = {vehicle: [e.vehicle, ...(e.vehicles || [])], account: [e.account], device: [e.device], ip: [e.ip],
      client: [e.client_id], msisdn: [e.msisdn]};
    const vals = f.kind ? of[f.kind] || [] : Object.values(of).flat();
    if (!vals.includes(f.entity)) return false;
  }
  return true;
}

function routeFor(f) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(f)) {
    if (k === 'status') { if (v !== OPEN) q.set('status', v || 'any'); continue; }
    if (v) q.set(k, v);
  }
  const s = q.toString();
  return '#/alerts' + (s ? '?' + s : '');
}

function select(id, label, value, options) {
  return [h('label', {for: id}, label),
    h('select', {id, name: id}, options.map(([v, t]) => h('option', {value: v, selected: v === value}, t)))];
}

export function render(main, ctx) {
  const f = filtersFrom(ctx.query);
  const tenants = new Set();
  let timer = null;
  let stopped = false;
  let shown = [];      // alerts on screen
  let rows = new Map(); // their rows by alert id: {tr, a}, reused while the alert is unchanged
  const selected = new Set();
  let busy = false;
  let liveState = 'connecting';
  let missed = false;        // the stream was down or dropped: poll when it is back
  let loading = false;
  let early = [];            // streamed while the page loads: applied after it
  let stopLive = null;
  const waiting = new Map(); // streamed alerts held back while the analyst works (by id)
  let heard = [];            // streamed alerts to announce together
  let heardTimer = null;

  // Filters.
  const inp = (id, label, value, attrs) => [h('label', {for: id}, label), h('input', {id, name: id, value, ...attrs})];
  const tenantList = h('datalist', {id: 'tenant-list'});
  const form = h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter alerts'},
    h('div', {class: 'field'}, inp('tenant', 'Tenant', f.tenant, {list: 'tenant-list', autocomplete: 'off', placeholder: 'all'}), tenantList),
    h('div', {class: 'field'}, select('category', 'Category', f.category, [['', 'all'], ...CATEGORIES.map((c) => [c, c])])),
    h('div', {class: 'field'}, select('severity', 'Severity at least', f.severity, [['', 'any'], ...SEVERITIES.map((s) => [s, s])])),
    h('div', {class: 'field'}, select('status', 'Status', f.status, [[OPEN, 'open (new, acknowledged)'], ...STATUSES.map((s) => [s, statusLabel(s)]), ['any', 'any']])),
    h('div', {class: 'field'}, select('kind', 'Entity kind', f.kind, [['', 'any kind'], ['vehicle', 'vehicle (VIN)'], ['account', 'account'], ['device', 'device'], ['ip', 'IP'], ['client', 'API client'], ['msisdn', 'SIM (MSISDN)']])),
    h('div', {class: 'field wide'}, inp('entity', 'Entity', f.entity, {placeholder: 'VIN, account, IP…', autocomplete: 'off', 'data-shortcut': '/'})),
    h('div', {class: 'field'}, inp('from', 'From (UTC)', f.from, {type: 'datetime-local', step: '1'})),
    h('div', {class: 'field'}, inp('to', 'To (UTC)', f.to, {type: 'datetime-local', step: '1'})),
    h('div', {class: 'field actions'}, h('button', {type: 'submit', class: 'primary'}, 'Apply'),
      h('button', {type: 'button', class: 'ghost', onclick: () => { location.hash = '#/alerts'; }}, 'Reset')));
  const apply = () => {
    const fd = new FormData(form);
    const nf = {};
    for (const k of ['tenant', 'category', 'severity', 'status', 'kind', 'entity', 'from', 'to']) nf[k] = String(fd.get(k) || '').trim();
    nf.cursor = '';
    location.hash = routeFor(nf);
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); apply(); });
  for (const sel of form.querySelectorAll('select')) sel.addEventListener('change', apply);

  // Bulk actions.
  const count = h('span', {class: 'count', id: 'sel-count'}, 'No alert selected');
  const assignee = h('input', {id: 'bulk-assignee', name: 'assignee', placeholder: 'analyst name', autocomplete: 'off', size: 14});
  const actionBtns = [];
  const act = (label, body, cls) => {
    const b = h('button', {type: 'button', class: cls || '', disabled: true, onclick: () => bulk(label, body())}, label);
    actionBtns.push(b);
    return b;
  };
  const bar = h('div', {class: 'bulk', role: 'toolbar', 'aria-label': 'Bulk actions on the selected alerts', 'aria-controls': 'alert-table', hidden: true},
    count,
    act('Acknowledge', () => ({status: 'acknowledged'})),
    act('Resolve', () => ({status: 'resolved'})),
    act('False positive', () => ({status: 'false_positive'})),
    h('span', {class: 'assign'}, h('label', {for: 'bulk-assignee', class: 'visually-hidden'}, 'Assign to'), assignee,
      act('Assign', () => ({assignee: assignee.value.trim()}))));
  const feedback = h('div', {class: 'feedback', 'aria-live': 'polite'});
  const readOnly = h('p', {class: 'help', id: 'read-only', hidden: true},
    'Your key is a viewer key: you can read the queue; acknowledging, resolving and assigning need an analyst or admin key.');
  const pill = livePill();

  const banner = h('div', {class: 'banner', hidden: true});
  const tbody = h('tbody', {});
  const selAll = h('input', {type: 'checkbox', id: 'sel-all', 'aria-label': 'Select all alerts on this page'});
  const table = h('table', {class: 'alerts readonly', id: 'alert-table'},
    h('caption', {class: 'visually-hidden'}, 'Alerts, newest first'),
    h('thead', {}, h('tr', {},
      h('th', {scope: 'col', class: 'chk'}, selAll),
      h('th', {scope: 'col'}, 'Severity'), h('th', {scope: 'col'}, 'Time (UTC), tenant'), h('th', {scope: 'col'}, 'Alert'),
      h('th', {scope: 'col'}, 'Category'), h('th', {scope: 'col'}, 'Entities'),
      h('th', {scope: 'col'}, 'Status, assignee'), h('th', {scope: 'col'}, 'Incident'))),
    tbody);
  const status = h('p', {class: 'muted', id: 'queue-status'}, 'Loading alerts…');
  const pager = h('nav', {class: 'pager', 'aria-label': 'Pages of alerts'});

  put(main, h('div', {class: 'page-head'}, heading('Alert queue'), pill.el), form, bar, readOnly, feedback, banner, status, scroller('Alerts', table), pager);

  // Triage only for keys that may: the server refuses the others anyway.
  caller().then((me) => {
    const may = mayTriage(me);
    bar.hidden = !may;
    readOnly.hidden = may;
    table.classList.toggle('readonly', !may);
  }).catch(() => { bar.hidden = false; table.classList.remove('readonly'); });

  selAll.addEventListener('change', () => {
    for (const a of shown) selAll.checked ? selected.add(a.id) : selected.delete(a.id);
    for (const c of tbody.querySelectorAll('input[type=checkbox]')) c.checked = selAll.checked;
    syncSelection();
  });

  function syncSelection() {
    const n = selected.size;
    count.textContent = n === 0 ? 'No alert selected' : n === 1 ? '1 alert selected' : n + ' alerts selected';
    for (const b of actionBtns) b.disabled = n === 0 || busy;
    selAll.checked = shown.length > 0 && shown.every((a) => selected.has(a.id));
    selAll.indeterminate = !selAll.checked && shown.some((a) => selected.has(a.id));
  }

  function row(a, fresh) {
    const chk = h('input', {type: 'checkbox', checked: selected.has(a.id), 'aria-label': 'Select alert: ' + a.title});
    chk.addEventListener('change', () => { chk.checked ? selected.add(a.id) : selected.delete(a.id); syncSelection(); });
    const m = a.mappings || {};
    const details = h('details', {},
      h('summary', {}, a.title),
      h('p', {}, a.explanation),
      h('dl', {class: 'kv'},
        h('dt', {}, 'Detector'), h('dd', {}, h('code', {}, a.detector)),
        h('dt', {}, 'Evidence'), h('dd', {}, String((a.evidence || []).length) + ' events, ' + a.first_seen.slice(0, 19) + ' → ' + a.last_seen.slice(0, 19)),
        h('dt', {}, 'R155'), h('dd', {}, (m.r155 || []).join(', ') || '—'),
        h('dt', {}, 'ATM'), h('dd', {}, (m.atm || []).join(', ') || '—'),
        h('dt', {}, 'ATT&CK'), h('dd', {}, (m.attack || []).join(', ') || '—'),
        h('dt', {}, 'Alert id'), h('dd', {}, h('code', {}, a.id))));
    return h('tr', {class: fresh ? 'fresh' : '', 'data-id': a.id},
      h('td', {class: 'chk'}, chk),
      h('td', {}, severityBadge(a.severity)),
      h('td', {class: 'nowrap'}, timeEl(a.time), h('div', {class: 'muted small'}, a.tenant)),
      h('td', {class: 'title'}, details),
      h('td', {}, h('span', {class: 'cat'}, a.category)),
      h('td', {class: 'ents'}, entityList(a.tenant, a.entities, 4)),
      h('td', {}, statusBadge(a.status), a.assignee ? h('div', {class: 'small'}, a.assignee) : null),
      h('td', {}, a.incident ? h('a', {href: '#/incidents/' + encodeURIComponent(a.incident), 'aria-label': 'Open incident of: ' + a.title}, 'Open') : '—'));
  }

  function addTenant(t) {
    if (t && !tenants.has(t)) { tenants.add(t); tenantList.append(h('option', {value: t})); }
  }

  // show puts alerts on screen in place: an unchanged alert keeps its row
  // (an expanded explanation stays open, a click under way keeps its
  // target), a changed one gets a new row, and only rows out of place move.
  function show(alerts, freshIds) {
    waiting.clear();
    for (const id of [...selected]) if (!alerts.some((a) => a.id === id)) selected.delete(id);
    const kept = new Map();
    const want = alerts.map((a) => {
      const old = rows.get(a.id);
      let tr;
      if (old && old.a.updated === a.updated) {
        tr = old.tr;
        tr.querySelector('td.chk input').checked = selected.has(a.id);
        tr.classList.toggle('fresh', !!(freshIds && freshIds.has(a.id)));
      } else {
        tr = row(a, freshIds && freshIds.has(a.id));
        if (old && old.tr.querySelector('details').open) tr.querySelector('details').open = true;
      }
      kept.set(a.id, {tr, a});
      addTenant(a.tenant);
      return tr;
    });
    // Rows of alerts gone leave; a changed alert's new row takes its old
    // row's place; then only new and reordered rows move.
    for (const [id, old] of rows) {
      const k = kept.get(id);
      if (!k) old.tr.remove();
      else if (k.tr !== old.tr) old.tr.replaceWith(k.tr);
    }
    let at = tbody.firstElementChild;
    for (const tr of want) {
      if (at === tr) at = at.nextElementSibling;
      else tbody.insertBefore(tr, at);
    }
    while (at) { const after = at.nextElementSibling; at.remove(); at = after; }
    shown = alerts;
    rows = kept;
    syncSelection();
  }

  let next = '';
  async function load() {
    status.hidden = false;
    status.textContent = 'Loading alerts…';
    loading = true;
    try {
      const page = await api.alerts(apiParams(f));
      next = page.next || '';
      show(page.alerts);
      status.textContent = page.alerts.length === 0 ? 'No alert matches these filters.' : '';
      status.hidden = page.alerts.length > 0;
      announce(page.alerts.length + ' alerts shown' + (next ? ', more on the next page' : ''));
      clear(pager);
      if (f.cursor) put(pager, h('a', {href: routeFor({...f, cursor: ''}), class: 'button'}, '⇤ Newest'));
      if (next) put(pager, h('a', {href: routeFor({...f, cursor: next}), class: 'button', rel: 'next'}, 'Older →'));
    } catch (e) {
      status.hidden = true;
      put(clear(feedback), errorBox(e, 'Could not load the alerts'));
      return;
    } finally {
      loading = false;
      const list = early;
      early = [];
      for (const a of list) arrive(a);
    }
    if (!f.cursor) schedule(pollEvery());
  }

  function pollEvery() { return liveState === 'live' ? LIVE_POLL_MS : POLL_MS; }

  // schedule keeps one poll pending at most.
  function schedule(ms) {
    if (timer) clearTimeout(timer);
    timer = stopped ? null : setTimeout(poll, ms);
  }

  // Streamed alerts. With nothing selected and focus outside the table they
  // slide in at their place (highlighted); otherwise a banner offers them,
  // so rows never move under the analyst's hand.
  function arrive(a) {
    if (loading) { early.push(a); return; }
    if (!admits(f, a) || shown.some((x) => x.id === a.id) || waiting.has(a.id)) return;
    hear(a);
    if (quiet()) insert([a]);
    else { waiting.set(a.id, a); offer(); }
  }

  function quiet() { return selected.size === 0 && !busy && !table.contains(document.activeElement); }

  function insert(list) {
    if (shown.length + list.length > MAX_ROWS) { waiting.clear(); banner.hidden = true; reload(); return; }
    for (const a of list) {
      // Newest first, by alert time: a late event's alert goes further down.
      let i = shown.findIndex((x) => tms(x.time) < tms(a.time));
      if (i < 0) i = shown.length;
      const tr = row(a, true);
      if (i < shown.length) tbody.insertBefore(tr, rows.get(shown[i].id).tr);
      else tbody.append(tr);
      shown = [...shown.slice(0, i), a, ...shown.slice(i)];
      rows.set(a.id, {tr, a});
      addTenant(a.tenant);
    }
    status.hidden = shown.length > 0;
    syncSelection();
  }

  function offer() {
    const n = waiting.size;
    put(clear(banner), n === 1 ? '1 new alert. ' : n + ' new alerts. ',
      h('button', {type: 'button', class: 'link', onclick: () => {
        banner.hidden = true;
        const list = [...waiting.values()];
        waiting.clear();
        insert(list);
      }}, 'Show them'));
    banner.hidden = false;
  }

  // hear announces streamed alerts to screen readers, a second's worth at
  // a time.
  function hear(a) {
    heard.push(a);
    if (heardTimer) return;
    heardTimer = setTimeout(() => {
      heardTimer = null;
      const n = heard.length, crit = heard.filter((x) => x.severity === 'critical').length;
      const first = heard[0];
      heard = [];
      if (stopped) return;
      announce(n === 1 ? `New ${first.severity} alert: ${first.title}` + (quiet() ? '' : '. Use Show them to see it.') :
        `${n} new alerts${crit ? ', ' + crit + ' critical' : ''}` + (quiet() ? '' : '. Use Show them to see them.'));
    }, 1000);
  }

  async function reload() {
    if (timer) { clearTimeout(timer); timer = null; }
    await load();
  }

  if (!f.cursor) {
    stopLive = liveAlerts({tenant: f.tenant, category: f.category, severity: f.severity}, {
      onAlert: arrive,
      onState: (st, detail) => {
        const wasLive = liveState === 'live';
        liveState = st;
        pill.set(st, detail);
        if (st === 'down') {
          missed = true;
          if (wasLive) schedule(POLL_MS); // polling takes over
        }
        // Back after an interruption: a poll now fetches what the stream
        // missed (and offers it as polling does).
        if (st === 'live' && missed) { missed = false; schedule(0); }
      },
      onOverflow: () => { missed = true; },
    });
  } else {
    pill.el.hidden = true;
  }

  // poll refreshes the first page. With nothing selected and focus outside
  // the table, new alerts slide in (highlighted, announced); otherwise a
  // banner offers them, so rows never move under the analyst's hand.
  async function poll() {
    timer = null;
    if (stopped) return;
    if (document.hidden || busy) { schedule(pollEvery()); return; }
    try {
      const page = await api.alerts(apiParams(f));
      const have = new Set(shown.map((a) => a.id));
      const fresh = page.alerts.filter((a) => !have.has(a.id));
      const changed = fresh.length > 0 || page.alerts.some((a, i) => !shown[i] || shown[i].id !== a.id || shown[i].updated !== a.updated);
      if (changed) {
        if (quiet()) {
          next = page.next || next;
          show(page.alerts, new Set(fresh.map((a) => a.id)));
          status.hidden = page.alerts.length > 0;
          banner.hidden = true;
          if (fresh.length) announce(fresh.length === 1 ? '1 new alert' : fresh.length + ' new alerts');
        } else if (fresh.length) {
          put(clear(banner), fresh.length === 1 ? '1 new alert. ' : fresh.length + ' new alerts. ',
            h('button', {type: 'button', class: 'link', onclick: () => { banner.hidden = true; selected.clear(); show(page.alerts, new Set(fresh.map((a) => a.id))); }}, 'Show them'));
          banner.hidden = false;
          announce(fresh.length + ' new alerts: use Show them to load them');
        }
      }
    } catch (e) { /* a missed poll is retried; load() shows errors */ }
    schedule(pollEvery());
  }

  async function bulk(label, body) {
    if (body.assignee !== undefined && !body.assignee && !confirm('Unassign the selected alerts?')) return;
    const ids = [...selected];
    busy = true;
    syncSelection();
    put(clear(feedback), h('p', {}, label + ': 0 of ' + ids.length + '…'));
    const res = await pool(ids, 4, (id) => api.patchAlert(id, body),
      (done, all) => { feedback.firstChild.textContent = label + ': ' + done + ' of ' + all + '…'; });
    const failed = res.map((r, i) => [ids[i], r]).filter(([, r]) => !r.ok);
    busy = false;
    selected.clear();
    clear(feedback);
    if (failed.length === 0) {
      put(feedback, h('p', {class: 'ok'}, label + ': done for ' + ids.length + (ids.length === 1 ? ' alert.' : ' alerts.')));
    } else {
      put(feedback, h('div', {class: 'error', role: 'alert'},
        label + ': ' + (ids.length - failed.length) + ' of ' + ids.length + ' done; ' + failed.length + ' failed: ',
        h('ul', {}, failed.slice(0, 5).map(([id, r]) => h('li', {}, h('code', {}, id), ': ', r.error.message)))));
    }
    if (timer) { clearTimeout(timer); timer = null; }
    await load();
  }

  load();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = null;
    clearTimeout(heardTimer);
    if (stopLive) stopLive();
  };
}
