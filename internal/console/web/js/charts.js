// Small SVG charts: horizontal bars and stacked columns. Each chart has a
// text equivalent (a table or the bars' labels) for screen readers.
import {h, s, fmtNum, put} from './dom.js';

// bars draws [{label, value, cls}] as labelled horizontal bars.
export function bars(title, items) {
  const max = Math.max(1, ...items.map((i) => i.value));
  const rowH = 22, labelW = 170, W = 460;
  const svg = s('svg', {viewBox: `0 0 ${W} ${items.length * rowH + 4}`, role: 'img', 'aria-label': title + ': ' +
    items.map((i) => `${i.label} ${i.value}`).join(', '), class: 'chart'});
  items.forEach((it, n) => {
    const y = n * rowH + 2;
    const w = Math.max(it.value ? 2 : 0, (W - labelW - 60) * it.value / max);
    put(svg, s('text', {x: labelW - 8, y: y + 15, 'text-anchor': 'end', class: 'lbl'}, it.label),
      s('rect', {x: labelW, y: y + 3, width: w, height: rowH - 7, rx: 2, class: 'bar ' + (it.cls || '')}),
      s('text', {x: labelW + w + 6, y: y + 15, class: 'val'}, fmtNum(it.value)));
  });
  return svg;
}

// columns draws buckets [{label, parts: {key: n}}] as stacked columns with
// keys in order (each key's class is 'bar ' + cls(key)).
export function columns(title, buckets, keys, cls) {
  const W = 460, H = 160, B = 22, L = 30;
  const max = Math.max(1, ...buckets.map((b) => keys.reduce((n, k) => n + (b.parts[k] || 0), 0)));
  const bw = (W - L) / Math.max(1, buckets.length);
  const svg = s('svg', {viewBox: `0 0 ${W} ${H + B}`, role: 'img', 'aria-label': title, class: 'chart'});
  put(svg, s('line', {x1: L, y1: H, x2: W, y2: H, class: 'axis'}), s('text', {x: L - 4, y: 10, 'text-anchor': 'end', class: 'val'}, fmtNum(max)),
    s('text', {x: L - 4, y: H, 'text-anchor': 'end', class: 'val'}, '0'));
  buckets.forEach((b, i) => {
    let y = H;
    for (const k of keys) {
      const v = b.parts[k] || 0;
      if (!v) continue;
      const hgt = (H - 14) * v / max;
      y -= hgt;
      put(svg, s('rect', {x: L + i * bw + 1, y, width: Math.max(1, bw - 2), height: hgt, class: 'bar ' + cls(k)}, s('title', {}, `${b.label}: ${v} ${k}`)));
    }
    const every = Math.ceil(buckets.length / 8);
    if (i % every === 0) put(svg, s('text', {x: L + i * bw + bw / 2, y: H + 15, 'text-anchor': 'middle', class: 'val'}, b.label));
  });
  return svg;
}

// legend lists keys with their swatches.
export function legend(keys, cls) {
  return h('ul', {class: 'legend'}, keys.map((k) => h('li', {}, h('span', {class: 'swatch ' + cls(k), 'aria-hidden': 'true'}), k)));
}
