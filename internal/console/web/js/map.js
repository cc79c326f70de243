// Tracks on a map that needs no network: positions on a Web Mercator plane
// with a graticule and a scale bar. When the server is configured with a
// tile server, its tiles are drawn underneath (the same projection).
import {h, s, fmtTime, tms, put} from './dom.js';

const W = 640, H = 400, PAD = 28;
const EARTH = 40075016.686; // metres around the equator

// world maps lat/lon to [0,1]² (Web Mercator).
function world(lat, lon) {
  const r = Math.max(-85, Math.min(85, lat)) * Math.PI / 180;
  return [(lon + 180) / 360, (1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2];
}

function lonOf(x) { return x * 360 - 180; }
function latOf(y) { return Math.atan(Math.sinh(Math.PI * (1 - 2 * y))) * 180 / Math.PI; }

function niceStep(span, target) {
  const raw = span / target;
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function fmtDeg(v, step) {
  const d = Math.max(0, -Math.floor(Math.log10(step)));
  return v.toFixed(d) + '°';
}

let config = null;
async function tileConfig() {
  if (config) return config;
  try {
    const r = await fetch('config.json', {cache: 'no-cache'});
    config = r.ok ? await r.json() : {};
  } catch (e) { config = {}; }
  return config;
}

const COLORS = ['--track-1', '--track-2', '--track-3', '--track-4'];

// trackMap draws tracks [{label, points: [{lat, lon, time, speed}]}] and
// markers [{lat, lon, label}] (alert locations) into an SVG figure. It
// returns the figure; the tile layer, when configured, arrives later.
export function trackMap(title, tracks, markers) {
  const pts = [];
  for (const t of tracks) for (const p of t.points) pts.push(world(p.lat, p.lon));
  for (const m of markers) pts.push(world(m.lat, m.lon));
  const fig = h('figure', {class: 'map'});
  const nFix = tracks.reduce((n, t) => n + t.points.length, 0);
  if (pts.length === 0) {
    put(fig, h('p', {class: 'muted'}, 'No position in this time range: the vehicles sent no telemetry with a position.'));
    return fig;
  }
  let [x0, y0] = pts[0], [x1, y1] = pts[0];
  for (const [x, y] of pts) { x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
  // At least ~1 km across, so a parked car is not a dot in nowhere.
  const minSpan = 1000 / EARTH / Math.cos(latOf((y0 + y1) / 2) * Math.PI / 180);
  const cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
  const span = Math.max(x1 - x0, (y1 - y0) * (W - 2 * PAD) / (H - 2 * PAD), minSpan);
  const k = (W - 2 * PAD) / span; // pixels per world unit
  const px = (x) => W / 2 + (x - cx) * k;
  const py = (y) => H / 2 + (y - cy) * k;
  const wx0 = cx - (W / 2) / k, wx1 = cx + (W / 2) / k, wy0 = cy - (H / 2) / k, wy1 = cy + (H / 2) / k;
  const latC = latOf(cy);

  const svg = s('svg', {viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'map-title map-desc', class: 'map-svg'});
  const desc = tracks.map((t) => `${t.label}: ${t.points.length} positions` +
    (t.points.length ? ` from ${fmtTime(t.points[0].time)} to ${fmtTime(t.points[t.points.length - 1].time)}` : '')).join('; ') +
    (markers.length ? '; alert locations: ' + markers.map((m) => `${m.label} at ${m.lat.toFixed(5)}, ${m.lon.toFixed(5)}`).join('; ') : '');
  put(svg, s('title', {id: 'map-title'}, title), s('desc', {id: 'map-desc'}, desc));
  put(svg, s('rect', {x: 0, y: 0, width: W, height: H, class: 'map-bg'}));
  const tiles = s('g', {class: 'tiles'});
  put(svg, tiles);

  // Graticule.
  const lonA = lonOf(wx0), lonB = lonOf(wx1), latA = latOf(wy1), latB = latOf(wy0);
  const step = niceStep(Math.max(lonB - lonA, latB - latA), 5);
  const grid = s('g', {class: 'graticule'});
  for (let lo = Math.ceil(lonA / step) * step; lo <= lonB; lo += step) {
    const x = px((lo + 180) / 360);
    put(grid, s('line', {x1: x, y1: 0, x2: x, y2: H}), s('text', {x: x + 3, y: 12}, fmtDeg(lo, step)));
  }
  for (let la = Math.ceil(latA / step) * step; la <= latB; la += step) {
    const y = py(world(la, 0)[1]);
    put(grid, s('line', {x1: 0, y1: y, x2: W, y2: y}), s('text', {x: 3, y: y - 3}, fmtDeg(la, step)));
  }
  put(svg, grid);

  // Tracks, oldest to newest, with start and end marks.
  tracks.forEach((t, i) => {
    if (!t.points.length) return;
    const cls = 'track track-' + (i % COLORS.length + 1);
    const d = t.points.map((p, j) => { const [x, y] = world(p.lat, p.lon); return (j ? 'L' : 'M') + px(x).toFixed(1) + ' ' + py(y).toFixed(1); }).join('');
    const g = s('g', {class: cls});
    put(g, s('path', {d}));
    const [sx, sy] = world(t.points[0].lat, t.points[0].lon);
    const last = t.points[t.points.length - 1];
    const [ex, ey] = world(last.lat, last.lon);
    put(g, s('circle', {cx: px(sx), cy: py(sy), r: 4, class: 'start'}, s('title', {}, `${t.label}: first position, ${fmtTime(t.points[0].time)}`)));
    put(g, s('circle', {cx: px(ex), cy: py(ey), r: 5, class: 'end'}, s('title', {}, `${t.label}: last position, ${fmtTime(last.time)}`)));
    put(svg, g);
  });

  // Alert locations.
  for (const m of markers) {
    const [x, y] = world(m.lat, m.lon);
    const X = px(x), Y = py(y);
    put(svg, s('g', {class: 'alert-mark'},
      s('path', {d: `M${X} ${Y - 3}L${X + 8} ${Y - 17}L${X - 8} ${Y - 17}Z`}),
      s('title', {}, `Alert: ${m.label} (${m.lat.toFixed(5)}, ${m.lon.toFixed(5)})`)));
  }

  // Scale bar: a round distance near a quarter of the width.
  const mPerPx = EARTH * Math.cos(latC * Math.PI / 180) / k;
  const dist = niceStep(mPerPx * W / 4, 1);
  const len = dist / mPerPx;
  const label = dist >= 1000 ? (dist / 1000) + ' km' : dist + ' m';
  put(svg, s('g', {class: 'scale', transform: `translate(${W - len - 16} ${H - 18})`},
    s('rect', {x: -6, y: -16, width: len + 12, height: 26, class: 'scale-bg'}),
    s('path', {d: `M0 -4V4H${len}V-4`}),
    s('text', {x: len / 2, y: -5, 'text-anchor': 'middle'}, label)));
  put(fig, svg);

  const legend = h('figcaption', {},
    h('ul', {class: 'legend'},
      tracks.map((t, i) => h('li', {}, h('span', {class: 'swatch track-' + (i % COLORS.length + 1), 'aria-hidden': 'true'}), t.label + ' (' + t.points.length + ' positions)')),
      markers.length ? h('li', {}, h('span', {class: 'swatch alert', 'aria-hidden': 'true'}), 'alert location') : null),
    h('span', {class: 'muted'}, nFix + ' positions · Web Mercator · grid every ' + fmtDeg(step, step)));
  put(fig, legend);

  tileConfig().then((c) => {
    if (!c.tile_url) return;
    const z = Math.max(0, Math.min(19, Math.floor(Math.log2(k / 256))));
    const n = 2 ** z;
    const sz = k / n;
    for (let tx = Math.floor(wx0 * n); tx <= Math.floor(wx1 * n); tx++) {
      for (let ty = Math.floor(wy0 * n); ty <= Math.floor(wy1 * n); ty++) {
        if (ty < 0 || ty >= n) continue;
        const url = c.tile_url.replace('{z}', z).replace('{x}', ((tx % n) + n) % n).replace('{y}', ty);
        put(tiles, s('image', {href: url, x: px(tx / n), y: py(ty / n), width: sz + 0.5, height: sz + 0.5}));
      }
    }
    svg.classList.add('with-tiles');
    if (c.tile_attribution) put(legend, h('span', {class: 'muted'}, ' · ' + c.tile_attribution));
  });
  return fig;
}

// fixesOf extracts positions from archived events (vehicle.telemetry and
// any event whose data carries a position), oldest first.
export function fixesOf(events) {
  const out = [];
  for (const e of events) {
    const p = e.event && e.event.data && e.event.data.position;
    if (p && typeof p.lat === 'number' && typeof p.lon === 'number') {
      out.push({lat: p.lat, lon: p.lon, time: e.time, ms: tms(e.time), speed: e.event.data.speed, vehicle: e.subject, ref: e.source + '\u0000' + e.id});
    }
  }
  out.sort((a, b) => a.ms - b.ms);
  return out;
}
