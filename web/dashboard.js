// vgpud's dashboard: a card per vGPU with its counters (from /api/vgpus, every second) and a
// live, view-only noVNC view of its VNC server (ws://<this host>:<its port>/). noVNC is served
// by vgpud itself from the build tree (/novnc/), never from a CDN.
import RFB from '/novnc/core/rfb.js';

const cards = new Map();  // vGPU id -> { root, fields, screen, rfb, port, retry }
// For tests and the curious: the live RFB objects, by vGPU id.
window.vgpud = { rfbs: {}, connected: {} };

const el = (tag, props = {}, ...children) => {
  const e = Object.assign(document.createElement(tag), props);
  e.append(...children);
  return e;
};

const ROWS = [
  ['mode', v => v.mode.width ? `${v.mode.width}×${v.mode.height} @ ${(v.mode.refresh_mhz / 1000).toFixed(2)} Hz` : 'display off'],
  ['fps primary / sprite / cursor', v => ['primary', 'sprite', 'cursor'].map(p => v.plane_fps[p].toFixed(1)).join(' / ')],
  ['event latency', v => latency(v.events.latency)],
  ['failsafe', v => v.failsafe ? `yes: ${v.failsafe_reason}` : 'no'],
  ['tearing control', v => v.tearing],
  ['vblanks / interrupts', v => `${v.vblanks} / ${v.interrupts}`],
  ['flips primary / sprite / cursor', v => `${v.flips.primary} / ${v.flips.sprite} / ${v.flips.cursor}`],
  ['events published / signalled', v => `${v.events.published} / ${v.events.signalled}`],
  ['events masked / overflowed', v => `${v.events.masked} / ${v.events.overflowed}`],
  ['MMIO traps (reads / writes)', v => traps(v.mmio.traps)],
  ['refused accesses', v => sum(v.malicious_accesses) + sum(v.mmio.refused)],
  ['exported buffers / live', v => `${v.exporter.exported_buffers} / ${v.exporter.live_buffers}`],
  ['host output (direct flip)', v => v.direct_flip
    ? `${v.direct_flip.output} (pipe ${v.direct_flip.pipe}), ${v.direct_flip.flips_shown} flips shown, ` +
      (v.direct_flip.clock === 'host' ? `vblank ${(v.direct_flip.lead_us / 1000).toFixed(1)} ms before the output's`
                                       : 'own vblank clock')
    : 'none'],
  ['VNC', v => v.vnc ? `:${v.vnc.port}, ${v.vnc.clients} client(s), ${v.vnc.updates} updates` : 'none'],
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

function makeCard(v) {
  const state = el('span', { className: 'state' });
  const screen = el('div', { className: 'screen' }, el('span', { className: 'note', textContent: 'connecting…' }));
  const fields = new Map();
  const rows = ROWS.map(([label]) => {
    const cell = el('td');
    fields.set(label, cell);
    return el('tr', {}, el('td', { textContent: label }), cell);
  });
  const root = el('section', { className: 'vgpu', id: `vgpu-${v.id}` },
                  el('h2', {}, `vGPU ${v.id} · ${v.type} · ${v.workload}`, state), screen, el('table', {}, ...rows));
  root.dataset.id = v.id;
  return { root, state, fields, screen, rfb: null, port: -1, retry: null };  // -1: not known yet
}

function connect(id, card) {
  clearTimeout(card.retry);
  card.screen.replaceChildren();
  const rfb = new RFB(card.screen, `ws://${location.hostname}:${card.port}/`, { shared: true });
  rfb.viewOnly = true;
  rfb.scaleViewport = true;
  rfb.qualityLevel = 9;  // near-lossless JPEG: tests compare pixels
  rfb.compressionLevel = 2;
  rfb.addEventListener('connect', () => { window.vgpud.connected[id] = true; card.root.dataset.connected = 'true'; });
  rfb.addEventListener('disconnect', () => {
    if (card.rfb !== rfb) return;  // an old connection, replaced on purpose
    window.vgpud.connected[id] = false;
    card.root.dataset.connected = 'false';
    card.rfb = null;
    // The VNC server may not be up yet, or the daemon restarted: try again shortly.
    card.retry = setTimeout(() => { if (!card.rfb && card.port) connect(id, card); }, 2000);
  });
  card.rfb = rfb;
  window.vgpud.rfbs[id] = rfb;
}

function update(v) {
  let card = cards.get(v.id);
  if (!card) {
    card = makeCard(v);
    cards.set(v.id, card);
    document.getElementById('vgpus').append(card.root);
  }
  card.state.textContent = v.state;
  card.state.className = `state ${v.state}`;
  for (const [label, fn] of ROWS) card.fields.get(label).textContent = fn(v);
  const port = v.vnc ? v.vnc.port : 0;
  if (port !== card.port) {
    card.port = port;
    const old = card.rfb;
    card.rfb = null;
    if (old) old.disconnect();
    if (port) connect(v.id, card);
    else card.screen.replaceChildren(el('span', { className: 'note', textContent: 'no VNC viewer' }));
  }
}

async function refresh() {
  const error = document.getElementById('error');
  try {
    const [daemon, vgpus] = await Promise.all(['/api/daemon', '/api/vgpus'].map(async u => {
      const r = await fetch(u, { cache: 'no-store' });
      if (!r.ok) throw new Error(`${u}: HTTP ${r.status}`);
      return r.json();
    }));
    document.getElementById('daemon').textContent =
      `up ${Math.round(daemon.uptime_s)} s · ${daemon.vgpus.length} vGPU(s) · ${daemon.clients} client(s) · ` +
      `${daemon.requests} requests, ${daemon.errors} errors, ${daemon.malformed} malformed`;
    vgpus.forEach(update);
    for (const [id, card] of cards) {  // a vGPU that went away
      if (vgpus.some(v => v.id === id)) continue;
      clearTimeout(card.retry);
      card.port = 0;
      if (card.rfb) card.rfb.disconnect();
      card.rfb = null;
      card.root.remove();
      cards.delete(id);
    }
    error.hidden = true;
  } catch (e) {
    error.textContent = `daemon unreachable: ${e.message}`;
    error.hidden = false;
  }
}

refresh();
setInterval(refresh, 1000);
