// The incident list: open ones first by default, paged by the server.
import {h, clear, heading, timeEl, severityBadge, statusBadge, entityList, scroller, errorBox, SEVERITIES, STATUSES, statusLabel, put} from '../dom.js';
import {api} from '../api.js';
import {incidentTitle} from './incident.js';

const OPEN = 'new,acknowledged';

export async function render(main, ctx) {
  const q = ctx.query;
  const f = {status: q.has('status') ? q.get('status') : OPEN, severity: q.get('severity') || '', cursor: q.get('cursor') || ''};
  const route = (nf) => '#/incidents?' + new URLSearchParams(Object.entries(nf).filter(([k, v]) => v || k === 'status').map(([k, v]) => [k, v || 'any'])).toString();
  const st = h('select', {id: 'f-status'}, [[OPEN, 'open (new, acknowledged)'], ...STATUSES.map((s) => [s, statusLabel(s)]), ['any', 'any']].map(([v, t]) => h('option', {value: v, selected: v === f.status}, t)));
  const sev = h('select', {id: 'f-sev'}, [['', 'any'], ...SEVERITIES.map((s) => [s, s])].map(([v, t]) => h('option', {value: v, selected: v === f.severity}, t)));
  const go = () => { location.hash = route({status: st.value, severity: sev.value, cursor: ''}); };
  st.addEventListener('change', go);
  sev.addEventListener('change', go);
  const tbody = h('tbody', {});
  const pager = h('nav', {class: 'pager', 'aria-label': 'Pages of incidents'});
  const note = h('p', {class: 'muted'}, 'Loading incidents…');
  put(main, heading('Incidents'),
    h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter incidents', onsubmit: (e) => { e.preventDefault(); go(); }},
      h('div', {class: 'field'}, h('label', {for: 'f-status'}, 'Status'), st),
      h('div', {class: 'field'}, h('label', {for: 'f-sev'}, 'Severity at least'), sev)),
    note,
    scroller('Incidents', h('table', {},
      h('caption', {class: 'visually-hidden'}, 'Incidents, newest first'),
      h('thead', {}, h('tr', {}, ['Severity', 'Incident', 'Span (UTC)', 'Alerts', 'Entities', 'Tenant', 'Status', 'Assignee'].map((t) => h('th', {scope: 'col'}, t)))),
      tbody)),
    pager);
  try {
    const page = await api.incidents({status: f.status === 'any' ? '' : f.status, severity: f.severity, cursor: f.cursor, limit: 50});
    note.textContent = page.incidents.length ? '' : 'No incident matches.';
    for (const i of page.incidents) {
      put(tbody, h('tr', {},
        h('td', {}, severityBadge(i.severity)),
        h('td', {}, h('a', {href: '#/incidents/' + encodeURIComponent(i.id)}, incidentTitle(i))),
        h('td', {class: 'nowrap'}, timeEl(i.first_seen), h('br'), timeEl(i.last_seen)),
        h('td', {class: 'num'}, String(i.alert_count)),
        h('td', {class: 'ents'}, entityList(i.tenant, i.entities, 6)),
        h('td', {}, i.tenant), h('td', {}, statusBadge(i.status)), h('td', {}, i.assignee || '—')));
    }
    if (f.cursor) put(pager, h('a', {class: 'button', href: route({...f, cursor: ''})}, '⇤ Newest'));
    if (page.next) put(pager, h('a', {class: 'button', href: route({...f, cursor: page.next})}, 'Older →'));
  } catch (e) {
    put(clear(note), errorBox(e, 'Could not load the incidents'));
  }
}
