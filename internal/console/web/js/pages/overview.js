// The overview: what the engine receives, what it finds, what is open.
// New alerts arrive live (the alert stream): the latest alerts, the
// severity chart, the top entities and the open incidents follow them.
import {h, clear, heading, timeEl, severityBadge, statusBadge, errorBox, fmtNum, SEVERITIES, CATEGORIES, kindLabel, plural, announce, put, entityHref} from '../dom.js';
import {api} from '../api.js';
import {bars, columns, legend} from '../charts.js';
import {liveAlerts, livePill} from '../live.js';
import {incidentTitle} from './incident.js';

const POLL_MS = 5000;
const SAMPLE = 1000;
const LATEST = 8;

export async function render(main) {
  const pill = livePill();
  put(main, h('div', {class: 'page-head'}, heading('Overview'), pill.el));
  const counters = h('section', {class: 'card wide', 'aria-labelledby': 'h-ingest'}, h('h2', {id: 'h-ingest'}, 'Ingest and detection'));
  const cats = h('section', {class: 'card', 'aria-labelledby': 'h-cats'}, h('h2', {id: 'h-cats'}, 'Alerts by category'));
  const sev = h('section', {class: 'card', 'aria-labelledby': 'h-sev'}, h('h2', {id: 'h-sev'}, 'Alerts by severity over time'));
  const incs = h('section', {class: 'card', 'aria-labelledby': 'h-open'}, h('h2', {id: 'h-open'}, 'Open incidents'));
  const top = h('section', {class: 'card', 'aria-labelledby': 'h-top'}, h('h2', {id: 'h-top'}, 'Top entities'));
  const latest = h('section', {class: 'card', 'aria-labelledby': 'h-latest', id: 'latest'}, h('h2', {id: 'h-latest'}, 'Latest alerts'),
    h('p', {class: 'muted'}, 'Loading…'));
  put(main, h('div', {class: 'grid'}, counters, latest, incs, cats, sev, top));

  let stopped = false, timer = null, prev = null;
  const tiles = h('div', {class: 'tiles-row'});
  put(counters, tiles);
  function tile(label, value, hint) {
    return h('div', {class: 'stat'}, h('div', {class: 'stat-v'}, value), h('div', {class: 'stat-l'}, label), hint ? h('div', {class: 'stat-h muted'}, hint) : null);
  }
  async function poll() {
    timer = null;
    try {
      const [st, rej] = await Promise.all([api.stats(), rejections()]);
      const now = performance.now();
      const rate = prev ? Math.max(0, (st.events_received - prev.n) / ((now - prev.t) / 1000)) : null;
      prev = {n: st.events_received, t: now};
      put(clear(tiles), 
        tile('events received', fmtNum(st.events_received)),
        tile('events / s', rate === null ? '—' : fmtNum(Math.round(rate)), rate === null ? 'measuring…' : 'over the last ' + POLL_MS / 1000 + ' s'),
        tile('rejected at ingest', rej === null ? '—' : fmtNum(rej.total), rej === null ? 'not available' : rej.top),
        tile('duplicates dropped', fmtNum(st.events_duplicate)),
        tile('late events', fmtNum(st.events_late), 'behind the watermark, still processed'),
        tile('processing lag', fmtNum(st.processing_lag), 'events stored, not yet detected'));
      put(clear(cats), h('h2', {id: 'h-cats'}, 'Alerts by category'),
        bars('Alerts by category', CATEGORIES.map((c) => ({label: c, value: (st.alerts_by_category || {})[c] || 0, cls: 'cat-bar'}))),
        h('p', {class: 'help'}, h('a', {href: '#/detectors'}, 'Detectors'), ' · counted by the engine since it started.'));
    } catch (e) {
      put(clear(tiles), errorBox(e, 'Could not read the counters'));
    }
    if (!stopped && !document.hidden) timer = setTimeout(poll, POLL_MS);
    else if (!stopped) timer = setTimeout(poll, POLL_MS * 3);
  }
  poll();

  // The latest alerts, severity over time and top entities: from the
  // latest alerts, then from the stream.
  let sample = null;     // newest first
  let more = false;      // the store holds more than the sample
  const fresh = new Set();
  let drawTimer = null, incTimer = null, heard = [];
  function drawSample() {
    drawTimer = null;
    if (stopped) return;
    const alerts = sample;
    const note = more ? `the latest ${alerts.length} alerts` : `all ${alerts.length} alerts`;
    put(clear(latest), h('h2', {id: 'h-latest'}, 'Latest alerts'),
      alerts.length ? h('ul', {class: 'latest-list'}, alerts.slice(0, LATEST).map((a) => h('li', {class: fresh.has(a.id) ? 'fresh' : '', 'data-id': a.id},
        severityBadge(a.severity), ' ',
        a.incident ? h('a', {href: '#/incidents/' + encodeURIComponent(a.incident)}, a.title) : h('span', {}, a.title),
        h('div', {class: 'muted small'}, timeEl(a.time), ' · ', a.tenant, ' · ', a.category)))) :
        h('p', {class: 'muted'}, 'No alert yet.'),
      h('p', {}, h('a', {href: '#/alerts'}, 'Alert queue →')));
    put(clear(sev), h('h2', {id: 'h-sev'}, 'Alerts by severity over time'));
    if (!alerts.length) {
      put(sev, h('p', {class: 'muted'}, 'No alert yet.'));
      put(clear(top), h('h2', {id: 'h-top'}, 'Top entities'), h('p', {class: 'muted'}, 'No alert yet.'));
      return;
    }
    const t0 = Math.min(...alerts.map((a) => Date.parse(a.time))), t1 = Math.max(...alerts.map((a) => Date.parse(a.time)));
    const step = niceBucket(t1 - t0);
    const start = Math.floor(t0 / step) * step;
    const n = Math.floor((t1 - start) / step) + 1;
    const buckets = Array.from({length: n}, (_, i) => ({label: bucketLabel(start + i * step, step), parts: {}}));
    for (const a of alerts) { const b = buckets[Math.floor((Date.parse(a.time) - start) / step)]; b.parts[a.severity] = (b.parts[a.severity] || 0) + 1; }
    const keys = [...SEVERITIES].reverse();
    put(sev, columns('Alerts by severity per ' + stepName(step) + ', ' + note, buckets, keys, (k) => 'sev-fill-' + k),
      legend(keys, (k) => 'sev-fill-' + k),
      h('p', {class: 'help'}, 'Per ' + stepName(step) + ' (UTC), from ' + note + '.'));
    const counts = new Map();
    for (const a of alerts) {
      const e = a.entities || {};
      for (const [k, v] of [['vehicle', e.vehicle], ['account', e.account], ['ip', e.ip], ['client', e.client_id], ['device', e.device]]) {
        if (!v) continue;
        const key = k + '\u0000' + v;
        const c = counts.get(key) || {kind: k, value: v, tenant: a.tenant, n: 0};
        c.n++;
        counts.set(key, c);
      }
    }
    const best = [...counts.values()].sort((a, b) => b.n - a.n).slice(0, 10);
    put(clear(top), h('h2', {id: 'h-top'}, 'Top entities'),
      h('ol', {class: 'top-ents'}, best.map((c) => h('li', {},
        h('a', {href: entityHref(c.tenant, c.kind, c.value)}, h('span', {class: 'ent-kind'}, kindLabel(c.kind)), c.value),
        ' ', h('span', {class: 'muted'}, plural(c.n, 'alert'))))),
      h('p', {class: 'help'}, 'Named by ' + note + '.'));
  }

  async function drawIncidents() {
    incTimer = null;
    try {
      const page = await api.incidents({status: 'new,acknowledged', limit: 8});
      if (stopped) return;
      put(clear(incs), h('h2', {id: 'h-open'}, 'Open incidents'),
        page.incidents.length ? h('ul', {class: 'inc-list'}, page.incidents.map((i) => h('li', {},
          severityBadge(i.severity), ' ', h('a', {href: '#/incidents/' + encodeURIComponent(i.id)}, incidentTitle(i)), ' ',
          statusBadge(i.status), h('div', {class: 'muted small'}, plural(i.alert_count, 'alert') + ' · last ', timeEl(i.last_seen), ' · ', i.tenant)))) :
          h('p', {class: 'muted'}, 'No open incident.'),
        h('p', {}, h('a', {href: '#/incidents'}, 'All incidents →')));
    } catch (e) {
      put(clear(incs), h('h2', {id: 'h-open'}, 'Open incidents'), errorBox(e, 'Could not load the incidents'));
    }
  }

  // A streamed alert: into the sample (redrawn at most once a second),
  // announced a second's worth at a time; the incidents follow.
  function arrive(a) {
    if (!sample || sample.some((x) => x.id === a.id)) return;
    sample.unshift(a);
    if (sample.length > SAMPLE) { sample.pop(); more = true; }
    fresh.add(a.id);
    heard.push(a);
    if (!drawTimer) {
      drawTimer = setTimeout(() => {
        drawSample();
        const n = heard.length, first = heard[0];
        heard = [];
        announce(n === 1 ? `New ${first.severity} alert: ${first.title}` : `${n} new alerts`);
      }, 1000);
    }
    if (!incTimer) incTimer = setTimeout(drawIncidents, 3000);
  }

  let missed = false;
  const stopLive = liveAlerts({}, {
    onAlert: arrive,
    onState: (st, detail) => {
      pill.set(st, detail);
      if (st === 'down') missed = true;
      if (st === 'live' && missed) { missed = false; reloadSample(); }
    },
    onOverflow: () => { missed = true; },
  });

  async function reloadSample() {
    try {
      const page = await api.alerts({limit: SAMPLE});
      if (stopped) return;
      sample = page.alerts;
      more = !!page.next;
      drawSample();
    } catch (e) {
      put(clear(sev), h('h2', {id: 'h-sev'}, 'Alerts by severity over time'), errorBox(e, 'Could not load the alerts'));
      put(clear(latest), h('h2', {id: 'h-latest'}, 'Latest alerts'), errorBox(e, 'Could not load the alerts'));
    }
  }
  await Promise.all([reloadSample(), drawIncidents()]);

  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    clearTimeout(drawTimer);
    clearTimeout(incTimer);
    stopLive();
  };
}

// rejections reads the ingest rejection counters from /metrics (public,
// Prometheus text) until /v1/stats carries them; null when unavailable.
async function rejections() {
  try {
    const r = await fetch('/metrics', {cache: 'no-store'});
    if (!r.ok) return null;
    const text = await r.text();
    let total = 0;
    const by = [];
    for (const line of text.split('\n')) {
      const m = line.match(/^vigil_ingest_rejected_total\{reason="([^"]*)"\} ([0-9.e+]+)$/);
      if (m) { const v = Number(m[2]); total += v; by.push([m[1], v]); }
    }
    by.sort((a, b) => b[1] - a[1]);
    return {total, top: by.length ? 'most: ' + by[0][0] : 'none'};
  } catch (e) {
    return null;
  }
}

function niceBucket(span) {
  for (const m of [5, 15, 30, 60, 180, 360, 720, 1440, 10080]) if (span / (m * 60e3) <= 24) return m * 60e3;
  return 10080 * 60e3;
}
function stepName(step) {
  const m = step / 60e3;
  return m < 60 ? m + ' minutes' : m === 60 ? 'hour' : m < 1440 ? m / 60 + ' hours' : m === 1440 ? 'day' : 'week';
}
function bucketLabel(t, step) {
  const iso = new Date(t).toISOString();
  return step < 1440 * 60e3 ? iso.slice(11, 16) : iso.slice(5, 10);
}
