// The dashboard in a real browser (Debian's chromium driven by playwright-core): every vGPU's
// card fills in from /api and its noVNC view shows the guest's picture, and every host output's
// card (/api/outputs: the virtual monitor, run_dashboard.sh puts the desktop on Virtual-1 by
// direct flip) shows what the output scans out: the direct-flipped guest's picture. Known pixels
// of each demo guest (src/guest/workload_scenes.cpp) are read back from the noVNC canvases,
// within the ~5 % noVNC's JPEG at quality 9 allows (docs: real-peers.md); nothing is fetched
// from anywhere but vgpud itself. Saves a screenshot of the page.
// Access (docs/viewers.md): the page without the token is a 401; opened with it, as vgpud prints
// it, the page needs nothing more (the views log in with the VNC password /api/vnc hands it)
// and the token leaves the address bar; another origin's page cannot open a view.
//
// usage: node dashboard.mjs <dashboard url with ?token=> <web dir (with node_modules)> <screenshot.png>
// exit: 0 pass, 1 fail, 77 skip (no playwright-core)
import { createRequire } from 'node:module';
import path from 'node:path';

const [url, webDir, shot] = process.argv.slice(2);
let chromium;
try {
  ({ chromium } = createRequire(path.join(webDir, 'package.json'))('playwright-core'));
} catch (e) {
  console.log(`SKIP: playwright-core not installed in ${webDir} (run scripts/install-deps): ${e.message}`);
  process.exit(77);
}

const TOL = 13;         // 5 % of 255: JPEG at quality 9
const TOL_YUV = 24;     // the video's bars also went through YUV 4:2:2
const near = (got, want, tol = TOL) => got && want.every((c, i) => Math.abs(got[i] - c) <= tol);
const lerp = (a, b, t) => a.map((c, i) => Math.round(c + (b[i] - c) * t));

// What each demo guest must show, checked on the picture the canvas holds (framebuffer pixels).
const EXPECT = {
  desktop: ({ w, h }) => ({
    pixels: {
      panel: [[w >> 1, 3], [0x15, 0x19, 0x1e]],  // the top panel, above its text
      // the wallpaper's vertical gradient, right of every window
      wallpaper: [[w - 4, h >> 1], lerp([0x1d, 0x35, 0x57], [0x5c, 0x8d, 0xb8], (h >> 1) / (h - 1))],
    },
    colours: {},
  }),
  console: ({ w, h }) => ({
    pixels: { background: [[w - 4, h - 4], [0, 0, 0]] },
    colours: { text: [[0xc8, 0xc8, 0xc8], 150] },  // log lines in grey
  }),
  video: () => ({
    pixels: {},
    // The sprite's colour bars (moving, so counted anywhere): 40×180 pixels of each.
    colours: { yellow: [[0xc0, 0xc0, 0x00], 2000], cyan: [[0x00, 0xc0, 0xc0], 2000], magenta: [[0xc0, 0x00, 0xc0], 2000] },
  }),
};

// In the page: the canvas noVNC draws into in the card whose view key is `key` (a vGPU's id,
// `output:<name>` for a host output), sampled.
function sample({ key, points, colours, tolYuv }) {
  const card = [...document.querySelectorAll('section[data-key]')].find(c => c.dataset.key === String(key));
  const canvas = card?.querySelector('.screen canvas');
  if (!canvas || !canvas.width || !canvas.height) return null;
  const { width: w, height: h } = canvas;
  const data = canvas.getContext('2d').getImageData(0, 0, w, h).data;
  const px = (x, y) => Array.from(data.slice((y * w + x) * 4, (y * w + x) * 4 + 3));
  const got = {};
  for (const [name, [x, y]] of Object.entries(points ?? {})) got[name] = px(x, y);
  const counts = {};
  for (const [name, [rgb]] of Object.entries(colours ?? {})) {
    let n = 0;
    for (let i = 0; i < data.length; i += 4)
      if (Math.abs(data[i] - rgb[0]) <= tolYuv && Math.abs(data[i + 1] - rgb[1]) <= tolYuv && Math.abs(data[i + 2] - rgb[2]) <= tolYuv) n++;
    counts[name] = n;
  }
  return { w, h, got, counts, connected: window.vgpud?.connected?.[key] === true };
}

// Waits (20 s at most) until the view `key` shows what a `workload` guest shows.
async function check(page, key, workload) {
  const expect = EXPECT[workload];
  if (!expect) return { ok: true, why: `no known picture for workload ${workload}` };
  let last = 'no canvas';
  for (const until = Date.now() + 20000; Date.now() < until; await page.waitForTimeout(250)) {
    const size = await page.evaluate(sample, { key });
    if (!size) continue;
    const e = expect(size);
    const points = Object.fromEntries(Object.entries(e.pixels).map(([k, [xy]]) => [k, xy]));
    const s = await page.evaluate(sample, { key, points, colours: e.colours, tolYuv: TOL_YUV });
    if (!s) continue;
    const bad = [];
    for (const [k, [, want]] of Object.entries(e.pixels)) if (!near(s.got[k], want)) bad.push(`${k} ${s.got[k]} want ${want}`);
    for (const [k, [, min]] of Object.entries(e.colours)) if (s.counts[k] < min) bad.push(`${k}: ${s.counts[k]} px < ${min}`);
    if (!bad.length) return { ok: true, why: `${s.w}x${s.h} ${JSON.stringify(s.got)} ${JSON.stringify(s.counts)}` };
    last = `${s.w}x${s.h} connected=${s.connected}: ${bad.join('; ')}`;
  }
  return { ok: false, why: last };
}

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
});
let failed = false;
const fail = msg => { console.log(`FAIL: ${msg}`); failed = true; };
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1400 } });
  const origin = new URL(url);
  const foreign = [];
  page.on('request', r => { if (new URL(r.url()).host !== origin.host) foreign.push(r.url()); });
  page.on('websocket', ws => { if (new URL(ws.url()).hostname !== origin.hostname) foreign.push(ws.url()); });
  page.on('pageerror', e => fail(`page error: ${e.message}`));
  const base = new URL('/', url).href;
  const refused = await page.goto(base);
  if (refused.status() !== 401) fail(`the page without the token: HTTP ${refused.status()}, not 401`);
  await page.goto(url);
  try {
    await page.waitForFunction(() => !new URLSearchParams(location.search).has('token'), null, { timeout: 10000 });
  } catch {
    fail(`the token stays in the address bar: ${await page.evaluate(() => location.href)}`);
  }
  const api = path => fetch(new URL(path, url), { headers: { Authorization: `Bearer ${origin.searchParams.get('token')}` } });

  const vgpus = await (await api('/api/vgpus')).json();
  if (!vgpus.length) fail('no vGPUs in /api/vgpus');
  for (const v of vgpus) {
    if (!v.vnc) { fail(`vGPU ${v.id} has no VNC viewer: the browser test needs the VNC streams`); continue; }
    const r = await check(page, v.id, v.workload);
    console.log(`vGPU ${v.id} (${v.workload}, VNC :${v.vnc.port}): ${r.ok ? 'ok' : 'FAIL'} ${r.why}`);
    if (!r.ok) failed = true;
  }
  // The table is live: state and a rate filled in for every card.
  await page.waitForTimeout(1500);  // one more refresh, so fps has a window
  for (const v of vgpus) {
    const text = await page.locator(`#vgpu-${v.id}`).innerText();
    if (!text.includes(v.state)) fail(`vGPU ${v.id}'s card does not show its state '${v.state}'`);
    if (!text.includes('event latency')) fail(`vGPU ${v.id}'s card has no counters`);
  }

  // The host outputs: a card each; where the daemon serves a view of one (the virtual monitor),
  // the direct-flipped guest's picture is in it, as on the vGPU's own view.
  const outs = await (await api('/api/outputs')).json();
  if (!outs.available) fail('/api/outputs: no host display (run_dashboard.sh configures a virtual monitor)');
  const flipped = outs.outputs?.filter(o => o.vgpu) ?? [];
  if (!flipped.length) fail('no output shows a vGPU: the config puts the desktop on Virtual-1');
  for (const o of outs.outputs ?? []) {
    const card = page.locator(`section.output[data-key="output:${o.name}"]`);
    if (!o.view) { fail(`${o.name} has no view: the virtual monitor's outputs are served over VNC`); continue; }
    const text = await card.innerText();
    if (!text.includes(`:${o.view.vnc_port}`)) fail(`${o.name}'s card does not show its view's port ${o.view.vnc_port}`);
    if (!o.vgpu) {
      if (!text.includes('free')) fail(`${o.name}'s card does not say it is free`);
      continue;
    }
    const v = vgpus.find(g => g.id === o.vgpu.id);
    const r = await check(page, `output:${o.name}`, v?.workload);
    console.log(`output ${o.name} (vGPU ${o.vgpu.id} pipe ${o.vgpu.pipe}, VNC :${o.view.vnc_port}): ${r.ok ? 'ok' : 'FAIL'} ${r.why}`);
    if (!r.ok) failed = true;
    const shown = await card.innerText();
    if (!shown.includes(`vGPU ${o.vgpu.id} pipe ${o.vgpu.pipe}`)) fail(`${o.name}'s card does not name the vGPU on it`);
    if (!/flips shown \/ commits\s+[1-9]\d* \//.test(shown)) fail(`${o.name}'s card shows no flips shown: ${shown}`);
  }
  if (foreign.length) fail(`requests outside vgpud: ${foreign.join(', ')}`);
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);

  // Another origin's page (here an opaque one: Origin "null") opens no view: the VNC port's
  // upgrade is refused, so the websocket never opens.
  const other = await browser.newPage();
  await other.goto('about:blank');
  const port = vgpus[0]?.vnc?.port;
  const opened = await other.evaluate(p => new Promise(done => {
    const ws = new WebSocket(`ws://127.0.0.1:${p}/`, ['binary']);
    ws.onopen = () => { ws.close(); done(true); };
    ws.onerror = () => done(false);
  }), port);
  console.log(`a foreign page's websocket to VNC :${port}: ${opened ? 'OPENED' : 'refused'}`);
  if (opened) fail('a page of another origin opened a websocket to a VNC port');
} catch (e) {
  fail(e.stack ?? String(e));
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
