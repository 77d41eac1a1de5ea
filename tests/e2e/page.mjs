// End-to-end test of the built page (pkg/) in headless Chromium, through playwright-core.
//
//   node tests/e2e/page.mjs --backend webgpu|cpu [--site pkg] [--out DIR] [--cli PATH] [--image FILE]
//
// Serves the site under a sub-path (relative URLs must work), loads it with no console
// errors and no request to another origin, codes a photo, checks the three bitrates, both
// PSNRs and the tinted map, decodes the downloaded .sac with the CLI to the same latents,
// shows an error for a corrupt .sac, on a second visit fetches no weights, and evicts (and
// fetches again) cached weights that fail their hash, and works offline after a visit (the
// service worker). A photo is given while the page is still loading, and must be coded once
// it is ready. The photo's whole curve is drawn, and a click on it codes another level; a click
// on a subclass shows its patches and its prior. The codec runs in Web Workers: the page must report how many, and its main
// thread must have no task over 200 ms while a photo is coded. With --backend webgpu the
// worker's GPUDevice is destroyed before a photo is coded: the page must finish on the CPU,
// say so, and run no job twice; then a WebGPU worker whose script cannot be loaded must be
// refused with a message, the page staying on the CPU. Screenshots go to --out. Exits
// non-zero if a check failed.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { launch, parseArgs, serve } from './site.mjs';

const args = parseArgs();
const backend = args.backend ?? 'cpu';
const site = path.resolve(args.site ?? 'pkg');
const out = path.resolve(args.out ?? 'target/e2e');
const cli = args.cli ?? 'target/debug/sacodec';
const image = path.resolve(args.image ?? 'tests/fixtures/parrots-200x136.png');
// 768 × 512: several jobs in every stage (the lost-device check).
const large = path.resolve('www/samples/kodim23.png');
const timeout = Number(args.timeout ?? 600) * 1000;
fs.mkdirSync(out, { recursive: true });

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} [${backend}] ${what}`);
  if (!ok) failures++;
}

const server = await serve(site);
const { url } = server;
const context = await launch(backend);

// Counts the jobs the page posts to its workers (every message after a worker's first, which
// carries the weights), and (once window.captureGpu is set) starts workers that keep their
// GPUDevice where the test can destroy it: the loader shim Trunk writes, plus that hook.
await context.addInitScript(() => {
  window.jobsPosted = 0;
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, transfer) {
    if (this.loaded) window.jobsPosted++;
    this.loaded = true;
    return post.call(this, message, transfer);
  };
  const Native = window.Worker;
  window.Worker = class extends Native {
    constructor(url, options) {
      // (Once window.missingGpuWorker is set) the GPU worker's script is one the site lacks.
      if (window.missingGpuWorker && /sacodec-worker-gpu/.test(url)) url = 'missing-worker.js';
      if (!window.captureGpu) {
        super(url, options);
        return;
      }
      const name = new URL(url, location.href).href.replace(/_loader\.js$/, '');
      const script = `self.gpuDevices = [];
        const request = GPUAdapter.prototype.requestDevice;
        GPUAdapter.prototype.requestDevice = async function (...a) {
          const device = await request.apply(this, a);
          self.gpuDevices.push(device);
          return device;
        };
        importScripts('${name}.js');
        wasm_bindgen('${name}_bg.wasm');`;
      super(URL.createObjectURL(new Blob([script], { type: 'text/javascript' })), options);
    }
  };
});

const errors = [];
const foreign = [];
const weightRequests = [];
function watch(page) {
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => {
    if (!r.url().startsWith(server.origin) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) {
      foreign.push(r.url());
    }
    if (r.url().includes('sacodec.safetensors')) weightRequests.push(r.url());
  });
}

const text = (page, id) => page.getByTestId(id).innerText();
const number = (s) => Number((s.match(/-?\d+(\.\d+)?/) ?? ['NaN'])[0]);
const status = (page) => text(page, 'status');

// Waits until the photo's whole curve is drawn (levels coded in the background).
async function waitCurve(page, what) {
  const start = Date.now();
  for (;;) {
    const s = await text(page, 'curve-status');
    if (/^Every level coded/.test(s)) return Date.now() - start;
    if (/stopped/.test(s)) throw new Error(`${what}: ${s}`);
    if (Date.now() - start > timeout) throw new Error(`${what}: timed out; curve "${s}"`);
    await page.waitForTimeout(250);
  }
}

async function waitStatus(page, pattern, what) {
  const start = Date.now();
  for (;;) {
    const s = await status(page);
    if (pattern.test(s)) return Date.now() - start;
    const err = await text(page, 'error');
    if (err.trim()) throw new Error(`${what}: the page shows an error: ${err}`);
    if (Date.now() - start > timeout) throw new Error(`${what}: timed out; status "${s}"`);
    await page.waitForTimeout(250);
  }
}

try {
  const page = await context.newPage();
  watch(page);
  // A photo given as soon as the page can take one, while it is still loading: kept, said so,
  // and coded once the networks are ready. The weights arrive 3 s late, so that the page is
  // surely still loading when the photo comes.
  const weightsUrl = /sacodec\.safetensors\.lzma/;
  await page.route(weightsUrl, async (route) => {
    await new Promise((r) => setTimeout(r, 3000));
    await route.continue();
  });
  await page.goto(url);
  await page.getByTestId('file-input').waitFor({ state: 'attached', timeout });
  // The notice lasts until the photo is coded: watch for it from before the photo is given.
  await page.evaluate(() => {
    window.keptNotice = false;
    new MutationObserver(() => {
      if (/will be coded as soon as the networks are ready/.test(document.querySelector('.notices')?.innerText ?? '')) {
        window.keptNotice = true;
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.getByTestId('file-input').setInputFiles(image);
  const early = await status(page);
  check(!/^(Ready|Done)/.test(early), `photo given before the page was ready (status "${early}")`);
  const loadMs = await waitStatus(page, /^Done/, 'coding the photo given while loading');
  check(await page.evaluate(() => window.keptNotice), 'meanwhile the page said it kept the photo');
  await page.unroute(weightsUrl);
  check(number(await text(page, 'bpp-subclass')) > 0, 'the photo given while loading was coded');
  if (backend === 'webgpu' && /CPU/.test(await text(page, 'backend'))) {
    // A software adapter (SwiftShader) starts on the CPU: switch, as a person would.
    console.log(`     [${backend}] the page chose the CPU`);
    await page.evaluate(() => (window.captureGpu = true));
    await page.getByLabel('backend').selectOption('webgpu');
    await page.waitForFunction(() => /WebGPU/.test(document.querySelector('[data-testid=backend]').innerText), null, { timeout });
    // Ready, then the photo on screen is coded again on WebGPU.
    await waitStatus(page, /^(Ready|Done)/, 'switching to WebGPU');
    await waitStatus(page, /^Done/, 'coding again on WebGPU');
  }
  const backendText = await text(page, 'backend');
  console.log(`     [${backend}] ready in ${loadMs} ms on ${backendText}`);
  check(backend === 'webgpu' ? /WebGPU/.test(backendText) : /CPU/.test(backendText), `backend shown: ${backendText}`);
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  const cpuWorkers = Math.min(cores, 4);
  const workers = number(await text(page, 'workers'));
  check(workers === (backend === 'webgpu' ? 1 : cpuWorkers), `the page reports ${workers} worker(s) (${cores} logical cores)`);

  // A photo through the file input, with the main thread's long tasks recorded meanwhile.
  await page.evaluate(() => {
    window.longTasks = [];
    new PerformanceObserver((list) => list.getEntries().forEach((e) => window.longTasks.push(e.duration))).observe({ type: 'longtask' });
  });
  await page.getByTestId('file-input').setInputFiles(image);
  const codeMs = await waitStatus(page, /^Done/, 'coding');
  console.log(`     [${backend}] coded ${path.basename(image)} in ${codeMs} ms`);
  const longTasks = await page.evaluate(() => window.longTasks);
  const longest = Math.round(Math.max(0, ...longTasks));
  check(longest <= 200, `main-thread long tasks (> 50 ms) while coding: ${longTasks.length}, the longest ${longest} ms (at most 200)`);
  // The sizes with rate-optimal ids are coded after the result.
  await page.waitForFunction(() => /bpp/.test(document.querySelector('[data-testid=bpp-rate]')?.textContent ?? ''), null, { timeout });
  const bpp = {};
  for (const id of ['bpp-global', 'bpp-subclass', 'bpp-rate', 'bpp-context', 'bpp-context-rate']) {
    bpp[id] = number(await text(page, id));
    check(bpp[id] > 0.01 && bpp[id] < 8, `${id} plausible: ${bpp[id]}`);
  }
  check(bpp['bpp-rate'] <= bpp['bpp-global'], 'rate-optimal assignment is no larger than the global prior');
  check(bpp['bpp-context'] < bpp['bpp-subclass'], `context saves bits: ${bpp['bpp-context']} < ${bpp['bpp-subclass']} bpp`);
  for (const id of ['psnr-decoded', 'psnr-enhanced', 'psnr-webp']) {
    const db = number(await text(page, id));
    check(db > 15 && db < 60, `${id} plausible: ${db} dB`);
  }
  const timings = await text(page, 'timings');
  check(/encode/.test(timings) && /enhance/.test(timings), 'stage timings shown');
  console.log(timings.split('\n').map((l) => `     [${backend}] ${l}`).join('\n'));

  // The map differs from the original where patches are tinted.
  const tinted = await page.evaluate(() => {
    const pixels = (id) => {
      const c = document.querySelector(`[data-testid=${id}]`);
      return c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    };
    const [m, o] = [pixels('subclass-map'), pixels('view-original')];
    if (m.length !== o.length || m.length === 0) return 0;
    let changed = 0;
    for (let i = 0; i < m.length; i += 4) {
      if (Math.abs(m[i] - o[i]) + Math.abs(m[i + 1] - o[i + 1]) + Math.abs(m[i + 2] - o[i + 2]) > 30) changed++;
    }
    return changed / (m.length / 4);
  });
  check(tinted > 0.2, `map tinted: ${(100 * tinted).toFixed(0)} % of pixels differ from the original`);
  // The map of the bits context saved each patch: another picture.
  const mapPixels = () => page.evaluate(() => {
    const c = document.querySelector('[data-testid=subclass-map]');
    return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0));
  });
  const bySubclass = await mapPixels();
  await page.getByTestId('map-tint').selectOption('saved');
  await page.waitForTimeout(500); // the map redraws in an effect
  const bySaved = await mapPixels();
  const differ = bySaved.filter((v, i) => Math.abs(v - bySubclass[i]) > 20).length / bySaved.length;
  check(differ > 0.2, `map of the bits context saved: ${(100 * differ).toFixed(0)} % of pixels differ from the subclass tint`);
  await page.getByTestId('map-tint').selectOption('subclass');
  const legendRows = await page.getByTestId('legend').locator('tbody tr').count();
  check(legendRows > 0, `legend lists ${legendRows} subclasses`);
  // What a subclass is: a click on its row highlights its patches and shows them, with what
  // its prior expects of each latent channel.
  const row = page.getByTestId('legend').locator('tbody tr').first();
  const patchesInRow = number(await row.locator('td').nth(1).innerText());
  await row.click();
  await page.getByTestId('gallery-prior').waitFor({ timeout });
  const galleryCount = number(await text(page, 'gallery-count'));
  const bars = await page.locator('[data-testid=channel-bars] rect').count();
  const prior = await text(page, 'gallery-prior');
  check(galleryCount === patchesInRow && bars === 64 && /its prior expects \d+ bits/.test(prior),
    `gallery: ${galleryCount} patches (legend: ${patchesInRow}), ${bars} channel bars; ${prior}`);
  await page.waitForTimeout(500); // the map redraws in an effect
  const highlighted = await mapPixels();
  const dimmed = highlighted.filter((v, i) => v < bySubclass[i] - 20).length / highlighted.length;
  check(dimmed > 0.05, `the map dims the other subclasses' patches (${(100 * dimmed).toFixed(0)} % of pixels darker)`);
  await page.screenshot({ path: path.join(out, `${backend}-gallery.png`), fullPage: true });
  await row.click();
  check(await page.getByTestId('gallery').count() === 0, 'a second click closes the gallery');
  await page.screenshot({ path: path.join(out, `${backend}-coded.png`), fullPage: true });

  // The photo's whole curve: every level coded in the background, the browser's JPEG and
  // WebP sampled; a click on a level's point codes the photo at that level, and the curve
  // stays (only what is missing is coded). On WebGPU (SwiftShader here: ~20 s a level to
  // enhance) it is checked later, with the enhancer off.
  if (backend === 'cpu') {
    const curveMs = await waitCurve(page, 'the photo\'s curve');
    const levels = await page.getByTestId('quality').locator('option').count();
    const points = await page.evaluate(() => {
      const series = [...document.querySelectorAll('[data-testid=curve-plot] g')];
      const count = (name) => series.find((g) => g.querySelector('title')?.textContent === name)?.querySelectorAll('[data-level]').length ?? 0;
      return { decoded: count('sacodec, decoded'), enhanced: count('sacodec, enhanced') };
    });
    check(points.decoded === levels && points.enhanced > 0, `curve: ${points.decoded} decoded and ${points.enhanced} enhanced points for ${levels} levels (${curveMs} ms after the result)`);
    const plot = await page.getByTestId('curve-plot').innerHTML();
    check(/browser JPEG/.test(plot) && /browser WebP/.test(plot), 'curve: the browser\'s JPEG and WebP sampled');
    const pick = String(levels - 1);
    await page.getByTestId('curve-plot').locator(`[data-level="${pick}"]`).first().dispatchEvent('click');
    await page.waitForFunction((q) => document.querySelector('[data-testid=quality]').value === q, pick, { timeout });
    await waitStatus(page, /^Done/, 'coding the level clicked on the curve');
    await waitCurve(page, 'the curve after a click');
    const marked = await page.getByTestId('curve-plot').locator('[data-testid=curve-marked]').count();
    const picked = number(await text(page, 'bpp-context'));
    check(marked === 1 && picked > bpp['bpp-context'], `curve: a click codes level ${pick} (${picked} bpp, ringed on the plot)`);
    await page.screenshot({ path: path.join(out, `${backend}-curve.png`), fullPage: true });
  }

  // Without the enhancer: re-coded, no enhanced picture.
  await page.getByTestId('enhance').uncheck();
  await page.waitForFunction(() => document.querySelector('[data-testid=psnr-enhanced]').innerText.trim() === '', null, { timeout });
  await waitStatus(page, /^Done/, 're-coding without the enhancer');
  check(number(await text(page, 'psnr-decoded')) > 15, 'enhancer off: decoded picture and PSNR still shown');
  if (backend === 'webgpu') {
    const ms = await waitCurve(page, 'the photo\'s curve');
    const levels = await page.getByTestId('quality').locator('option').count();
    const points = await page.getByTestId('curve-plot').locator('[data-level]').count();
    check(points >= levels, `curve: ${points} points for ${levels} levels (${ms} ms after the result)`);
  }

  // The downloaded .sac decodes with the CLI to the same latents.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-sac').click()]);
  const sacPath = path.join(out, `${backend}-page.sac`);
  await download.saveAs(sacPath);
  const digest = (await text(page, 'digest')).trim();
  const info = JSON.parse(execFileSync(cli, ['info', '--json', sacPath], { encoding: 'utf8' }));
  check(info.decoded?.latents_digest === digest, `CLI decodes the page's .sac to the same latents (${digest})`);

  // A .sac made by the CLI opens in the page.
  const cliSac = path.join(out, `${backend}-cli.sac`);
  execFileSync(cli, ['compress', image, '-o', cliSac, '-q', '1']);
  const cliInfo = JSON.parse(execFileSync(cli, ['info', '--json', cliSac], { encoding: 'utf8' }));
  await page.getByTestId('sac-input').setInputFiles(cliSac);
  await waitStatus(page, /^Done/, 'opening the CLI .sac');
  check((await text(page, 'digest')).trim() === cliInfo.decoded.latents_digest, 'the page decodes a CLI .sac to the same latents');

  // A corrupt .sac: a clear error, and the page keeps working.
  const bytes = fs.readFileSync(sacPath);
  bytes[bytes.length - 3] ^= 0x5a;
  await page.getByTestId('sac-input').setInputFiles({ name: 'corrupt.sac', mimeType: 'application/octet-stream', buffer: bytes });
  await page.waitForFunction(() => document.querySelector('[data-testid=error]').innerText.trim().length > 0, null, { timeout });
  const error = await text(page, 'error');
  check(/corrupt|checksum/i.test(error), `corrupt .sac shows: ${error}`);
  // Not an image at all.
  await page.getByTestId('file-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
  await page
    .waitForFunction(() => /cannot read image/.test(document.querySelector('[data-testid=error]').innerText), null, { timeout })
    .catch(() => {});
  const notImage = await text(page, 'error');
  check(/cannot read image/.test(notImage), `a non-image shows: ${notImage}`);
  await page.screenshot({ path: path.join(out, `${backend}-error.png`), fullPage: true });

  if (backend === 'webgpu') {
    // A lost GPU: the worker's GPUDevice is destroyed, then a photo is coded. The jobs move
    // to CPU workers with a notice, and no job runs twice: the run posts exactly one job more
    // (the one that failed on the GPU) than the same photo coded again on the CPU.
    const destroyed = await Promise.all(
      page.workers().map((w) => w.evaluate(() => (self.gpuDevices ?? []).map((d) => d.destroy()).length)),
    );
    check(destroyed.reduce((a, b) => a + b, 0) === 1, `destroyed the worker's GPUDevice (${destroyed})`);
    const posted = () => page.evaluate(() => window.jobsPosted);
    let before = await posted();
    await page.getByTestId('file-input').setInputFiles(large);
    await waitStatus(page, /^Done/, 'coding after the GPU was lost');
    await waitCurve(page, 'the curve after the GPU was lost');
    const lostJobs = (await posted()) - before;
    const notices = await page.locator('.notices').innerText();
    const moved = notices.match(/WebGPU failed \((.*)\): the (\d+) of (\d+) (\w+) jobs not done move to the CPU; the (\d+) done are kept/);
    check(moved && Number(moved[2]) + Number(moved[5]) === Number(moved[3]), `lost GPU: ${moved ? moved[0] : notices}`);
    check(/CPU/.test(await text(page, 'backend')) && number(await text(page, 'workers')) === cpuWorkers, 'lost GPU: the page now runs on the CPU workers');
    check(number(await text(page, 'psnr-decoded')) > 15, 'lost GPU: the photo was coded');
    before = await posted();
    await page.getByTestId('file-input').setInputFiles(large);
    await waitStatus(page, /^Done/, 'coding again on the CPU');
    await waitCurve(page, 'the curve on the CPU');
    const cpuJobs = (await posted()) - before;
    check(lostJobs === cpuJobs + 1, `lost GPU: no job ran twice (${lostJobs} jobs posted; ${cpuJobs} on the CPU alone)`);
    await page.screenshot({ path: path.join(out, `${backend}-lost-gpu.png`), fullPage: true });

    // A worker whose script cannot be loaded (a file missing, or offline and not cached): the
    // page says so and stays on the CPU.
    const logged = errors.length;
    await page.evaluate(() => { window.captureGpu = false; window.missingGpuWorker = true; });
    await page.getByLabel('backend').selectOption('webgpu');
    await page.waitForFunction(() => /could not be loaded/.test(document.querySelector('[data-testid=error]').innerText), null, { timeout });
    const stayed = /CPU/.test(await text(page, 'backend')) && /^Ready/.test(await text(page, 'status'));
    check(stayed, `a worker script that cannot load: "${await text(page, 'error')}", still on the CPU`);
    await page.evaluate(() => { window.missingGpuWorker = false; });
    errors.splice(logged, errors.length - logged, ...errors.slice(logged).filter((e) => !/404/.test(e)));
  }

  // Second visit: the weights come from the Cache API.
  const before = weightRequests.length;
  check(before === 1, `first visit fetched the weights once (${before})`);
  await page.reload();
  await waitStatus(page, /^Ready/, 'second visit');
  check(weightRequests.length === before, `second visit fetched no weights (${weightRequests.length - before} requests)`);

  // A cached copy that fails its hash is evicted and fetched again, once.
  const corrupted = await page.evaluate(async () => {
    const cache = await caches.open('sacodec-weights');
    const keys = await cache.keys();
    for (const k of keys) await cache.put(k, new Response(new Uint8Array([31, 139, 8, 0, 1, 2, 3])));
    return keys.length;
  });
  check(corrupted === 1, `corrupted the cached weights (${corrupted} entry)`);
  await page.reload();
  await waitStatus(page, /^Ready/, 'visit with corrupt cached weights');
  const evicted = await page.locator('.notices').innerText();
  check(/failed their check: evicted and downloaded again/.test(evicted), 'the page evicted the corrupt cached weights');
  check(weightRequests.length === before + 1, `corrupt cache: the weights fetched once more (${weightRequests.length - before})`);
  await page.reload();
  await waitStatus(page, /^Ready/, 'visit after the eviction');
  check(weightRequests.length === before + 1, 'after the eviction the cache serves the weights again');

  // Offline after a visit: the service worker serves the app shell, the Cache API the weights.
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
  await context.setOffline(true);
  const online = errors.length;
  await page.reload();
  await waitStatus(page, /^Ready/, 'offline visit');
  await page.getByTestId('file-input').setInputFiles(image);
  await waitStatus(page, /^Done/, 'coding offline');
  check(number(await text(page, 'bpp-subclass')) > 0, 'offline: the page loads and codes a photo');
  await context.setOffline(false);
  // The browser reports what it could not fetch while offline (the worker's update check).
  errors.splice(online, errors.length - online, ...errors.slice(online).filter((e) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch|sw\.js/.test(e)));

  check(foreign.length === 0, `no request left the origin ${foreign.length ? foreign.join(', ') : ''}`);
  check(errors.length === 0, `no console errors ${errors.length ? JSON.stringify(errors) : ''}`);
} catch (e) {
  console.log(`FAIL [${backend}] ${e.message}`);
  failures++;
  for (const p of context.pages()) await p.screenshot({ path: path.join(out, `${backend}-failure.png`), fullPage: true }).catch(() => {});
} finally {
  await context.close();
  server.close();
}
console.log(failures ? `${failures} check(s) failed [${backend}]` : `all checks passed [${backend}]`);
process.exit(failures ? 1 : 0);
