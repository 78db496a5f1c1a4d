// vgpud's dashboard: a card per vGPU with its counters (from /api/vgpus, every second) and a
// live, view-only noVNC view of its VNC server (ws://<this host>:<its port>/), and a card per host
// output (from /api/outputs: direct flip, docs/viewers.md) with a view of what it scans out where
// the daemon serves one (a virtual monitor's output), else a status line. noVNC is served by
// vgpud itself from the build tree (/novnc/), never from a CDN. The page is behind the access
// token (docs/viewers.md, "Access"): the server set a cookie when it was opened with ?token=,
// and hands the page the VNC password for its views from /api/vnc.
import RFB from '/novnc/core/rfb.js';

// The token has done its job (the cookie carries it now): out of the address bar and history.
if (new URLSearchParams(location.search).has('token')) history.replaceState(null, '', location.pathname);
let vncPassword;  // from /api/vnc: a string, or null when the VNC servers ask for none

const cards = new Map();    // vGPU id -> card
const outputs = new Map();  // output name -> card
// For tests and the curious: the live RFB objects and whether each is connected, by view key
// (a vGPU's id; `output:<name>` for a host output).
window.vgpud = { rfbs: {}, connected: {} };

const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};

const mode = m => m.width ? `${m.width}×${m.height} @ ${(m.refresh_mhz / 1000).toFixed(2)} Hz` : 'display off';

const ROWS = [
  ['mode', v => mode(v.mode)],
  ['fps primary / sprite / cursor', v => ['primary', 'sprite', 'cursor'].map(p => v.plane_fps[p].toFixed(1)).join(' / ')],
  ['event latency', v => latency(v.events.latency)],
  ['failsafe', v => v.failsafe ? `yes: ${v.failsafe_reason}` : 'no'],
  ['tearing control', v => v.tearing],
  ['vblanks / interrupts', v => `${v.vblanks} / ${v.interrupts}`],
  ['flips primary / sprite / cursor', v => `${v.flips.primary} / ${v.flips.sprite} / ${v.flips.cursor}`],
  ['events published / signalled', v => `${v.events.published} / ${v.events.signalled}`],
  ['events masked / overflowed', v => `${v.events.masked} / ${v.events.overflowed}`],
  ['MMIO traps (reads / writes)', v => traps(v.mmio.traps)],
  ['guest attacks', v => sum(v.guest_attacks)],
  ['exported buffers / live', v => `${v.exporter.exported_buffers} / ${v.exporter.live_buffers}`],
  ['host output (direct flip)', v => v.direct_flip
    ? `${v.direct_flip.output} (pipe ${v.direct_flip.pipe}), ${v.direct_flip.flips_shown} flips shown, ` +
      (v.direct_flip.clock === 'host' ? `vblank ${(v.direct_flip.lead_us / 1000).toFixed(1)} ms before the output's`
                                       : 'own vblank clock')
    : 'none'],
  ['VNC', v => v.vnc ? `:${v.vnc.port}, ${v.vnc.clients} client(s), ${v.vnc.updates} updates` : 'none'],
];

// An output's rows: `o` from /api/outputs, `v` the vGPU on it from /api/vgpus (or undefined).
const OUTPUT_ROWS = [
  ['connected', o => o.connected ? 'yes' : 'no'],
  ['mode', o => mode(o.mode)],
  ['CRTC', o => o.crtc || 'none'],
  ['vGPU (direct flip)', o => o.vgpu
    ? `vGPU ${o.vgpu.id} pipe ${o.vgpu.pipe} (${o.vgpu.by_config ? 'configured' : 'assigned by a client'})` : 'none'],
  ['flips shown / commits', (o, v) => v?.direct_flip ? `${v.direct_flip.flips_shown} / ${v.direct_flip.commits}` : '–'],
  ['imports / refills / scaled', (o, v) => v?.direct_flip
    ? `${v.direct_flip.imports} / ${v.direct_flip.refills} / ${v.direct_flip.scaled_fallbacks}` : '–'],
  ['view', o => o.view ? `VNC :${o.view.vnc_port}, ${o.view.clients} client(s), ${o.view.pictures_sent} pictures` : 'none'],
];

const sum = o => Object.values(o).reduce((a, b) => a + b, 0);

function traps(t) {
  const r = Object.values(t).reduce((a, b) => a + b.reads, 0);
  const w = Object.values(t).reduce((a, b) => a + b.writes, 0);
  return `${r} / ${w}`;
}

// Mean, and the bucket bound 99 % of deliveries fell under (cumulative buckets, as /metrics).
function latency(h) {
  if (!h.count) return '–';
  const t = ns => ns < 1e6 ? `${Math.round(ns / 1000)} µs` : `${+(ns / 1e6).toFixed(1)} ms`;
  const p99 = h.buckets.find(b => b.count >= 0.99 * h.count);
  const last = h.buckets[h.buckets.length - 2].le_ns;
  const bound = p99.le_ns === '+Inf' ? `> ${t(last)}` : `≤ ${t(p99.le_ns)}`;
  return `mean ${t(h.sum_ns / h.count)}, p99 ${bound} (${h.count} events)`;
}

// A card: a title with a state badge, a screen (a noVNC view or a note), a table of rows.
function makeCard(key, className, id, title, rows) {
  const state = el('span', { className: 'state' });
  const screen = el('div', { className: 'screen' }, el('span', { className: 'note', textContent: 'connecting…' }));
  const fields = new Map();
  const trs = rows.map(([label]) => {
    const cell = el('td');
    fields.set(label, cell);
    return el('tr', {}, el('td', { textContent: label }), cell);
  });
  const heading = el('h2', {}, el('span', { className: 'title', textContent: title }), state);
  const root = el('section', { className, id }, heading, screen, el('table', {}, ...trs));
  root.dataset.key = key;
  return { key, root, state, fields, screen, rfb: null, port: -1, retry: null };  // -1: not known yet
}

function connect(card) {
  clearTimeout(card.retry);
  card.screen.replaceChildren();
  const credentials = vncPassword ? { password: vncPassword } : undefined;
  const rfb = new RFB(card.screen, `ws://${location.hostname}:${card.port}/`, { shared: true, credentials });
  rfb.viewOnly = true;
  rfb.scaleViewport = true;
  rfb.qualityLevel = 9;  // near-lossless JPEG: tests compare pixels
  rfb.compressionLevel = 2;
  rfb.addEventListener('connect', () => { window.vgpud.connected[card.key] = true; card.root.dataset.connected = 'true'; });
  rfb.addEventListener('disconnect', () => {
    if (card.rfb !== rfb) return;  // an old connection, replaced on purpose
    window.vgpud.connected[card.key] = false;
    card.root.dataset.connected = 'false';
    card.rfb = null;
    // The VNC server may not be up yet, or the daemon restarted: try again shortly.
    card.retry = setTimeout(() => { if (!card.rfb && card.port) connect(card); }, 2000);
  });
  card.rfb = rfb;
  window.vgpud.rfbs[card.key] = rfb;
}

// Points the card's view at `port` (0: none, `note` says why), reconnecting only on a change.
function view(card, port, note) {
  if (port !== card.port) {
    card.port = port;
    const old = card.rfb;
    card.rfb = null;
    if (old) old.disconnect();
    if (port) connect(card);
  }
  card.screen.classList.toggle('none', !port);
  if (!port && card.screen.textContent !== note) card.screen.replaceChildren(el('span', { className: 'note', textContent: note }));
}

function drop(map, key) {
  const card = map.get(key);
  clearTimeout(card.retry);
  card.port = 0;
  if (card.rfb) card.rfb.disconnect();
  card.rfb = null;
  card.root.remove();
  map.delete(key);
}

function update(v) {
  let card = cards.get(v.id);
  if (!card) {
    card = makeCard(v.id, 'vgpu', `vgpu-${v.id}`, `vGPU ${v.id} · ${v.type} · ${v.workload}`, ROWS);
    cards.set(v.id, card);
    document.getElementById('vgpus').append(card.root);
  }
  card.state.textContent = v.state;
  card.state.className = `state ${v.state}`;
  for (const [label, fn] of ROWS) card.fields.get(label).textContent = fn(v);
  view(card, v.vnc ? v.vnc.port : 0, 'no VNC viewer');
}

function updateOutput(o, display, vgpus) {
  let card = outputs.get(o.name);
  if (!card) {
    card = makeCard(`output:${o.name}`, 'output', `output-${o.name}`, `${o.name} · ${display}`, OUTPUT_ROWS);
    outputs.set(o.name, card);
    document.getElementById('outputs').append(card.root);
  }
  const v = o.vgpu ? vgpus.find(g => g.id === o.vgpu.id) : undefined;
  const state = !o.connected ? 'disconnected' : o.vgpu ? `vGPU ${o.vgpu.id}` : 'free';
  card.state.textContent = state;
  card.state.className = `state ${!o.connected ? 'display-off' : o.vgpu ? 'running' : 'free'}`;
  for (const [label, fn] of OUTPUT_ROWS) card.fields.get(label).textContent = fn(o, v);
  // Without a view (a KMS output: what it shows is on the card's own screen), a status line.
  const line = !o.connected ? `${o.name}: not connected`
    : o.vgpu ? `${o.name} shows vGPU ${o.vgpu.id} pipe ${o.vgpu.pipe} at ${mode(o.mode)} (no view here: it is on the host's screen)`
      : `${o.name}: no vGPU on it (no view here)`;
  view(card, o.view ? o.view.vnc_port : 0, line);
}

async function getJson(u) {
  const r = await fetch(u, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${u}: HTTP ${r.status}`);
  return r.json();
}

async function refresh() {
  const error = document.getElementById('error');
  try {
    if (vncPassword === undefined) vncPassword = (await getJson('/api/vnc')).password;
    const [daemon, vgpus, outs] = await Promise.all(['/api/daemon', '/api/vgpus', '/api/outputs'].map(getJson));
    document.getElementById('daemon').textContent =
      `up ${Math.round(daemon.uptime_s)} s · ${daemon.vgpus.length} vGPU(s) · ${daemon.clients} client(s) · ` +
      `${daemon.requests} requests, ${daemon.errors} errors, ${daemon.malformed} malformed`;
    vgpus.forEach(update);
    for (const id of [...cards.keys()]) if (!vgpus.some(v => v.id === id)) drop(cards, id);  // a vGPU that went away
    document.getElementById('host-display').hidden = !outs.available;
    if (outs.available) {
      document.getElementById('host-display-name').textContent = outs.display;
      outs.outputs.forEach(o => updateOutput(o, outs.display, vgpus));
    }
    for (const name of [...outputs.keys()]) if (!outs.outputs.some(o => o.name === name)) drop(outputs, name);
    error.hidden = true;
  } catch (e) {
    error.textContent = `daemon unreachable: ${e.message}`;
    error.hidden = false;
  }
}

refresh();
setInterval(refresh, 1000);
