// The detectors the engine runs, by category, with the alerts raised.
import {h, heading, scroller, errorBox, fmtNum, CATEGORIES, put} from '../dom.js';
import {api} from '../api.js';

export async function render(main) {
  put(main, heading('Detectors'));
  let d;
  try {
    d = await api.detectors();
  } catch (e) {
    put(main, errorBox(e, 'Could not load the detectors'));
    return;
  }
  const byCat = d.alerts_by_category || {};
  const dets = [...d.detectors].sort((a, b) => CATEGORIES.indexOf(a.category) - CATEGORIES.indexOf(b.category) || a.id.localeCompare(b.id));
  put(main, h('p', {class: 'help'}, dets.length + ' detectors. Hit counts per detector, cost per event and shadow mode are not in the API yet; alerts are counted by category.'),
    scroller('Detectors', h('table', {},
      h('caption', {class: 'visually-hidden'}, 'Detectors'),
      h('thead', {}, h('tr', {}, ['Detector', 'Category', 'Alerts in category', 'What it finds'].map((t) => h('th', {scope: 'col'}, t)))),
      h('tbody', {}, dets.map((x) => h('tr', {},
        h('td', {}, h('code', {}, x.id), h('div', {class: 'small'}, x.title)),
        h('td', {class: 'nowrap'}, x.category ? h('a', {href: '#/alerts?' + new URLSearchParams({category: x.category, status: 'any'})}, x.category) : '—'),
        h('td', {class: 'num'}, fmtNum(byCat[x.category] || 0)),
        h('td', {class: 'small'}, x.description)))))));
}
