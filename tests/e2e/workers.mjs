// Benchmark (not a test): the page's CPU path end to end with 1, 2 and 4 workers.
//
//   node tests/e2e/workers.mjs [--site pkg] [--image www/samples/kodim23.png] [--loads 3]
//                              [--runs 5] [--workers 1,2,4] [--pause-ms 2000]
//                              [--json results/page-workers.json]
//
// For each worker count it opens the built page at ?workers=N (CPU backend, no WebGPU)
// `loads` times (V8's state differs from one page load to the next: the same build measured
// 4.2 s to 5.4 s with 2 workers over three loads), and in each codes the image `runs` + 1
// times (the first photo after "Ready." is reported apart) with the enhancer on at the
// default quality, and times each from giving the file to "Done." (the coded files, the
// decoded and enhanced pictures, the browser's JPEG and WebP, every metric). Each photo is
// given `pause-ms` after "Ready." or the last "Done.", as a person would (a first photo
// waits for the workers' warm-up where it is not over). V8 runs wasm in its baseline compiler
// until a function has run enough, and optimizes it for the calls it has seen: the
// warm-up's sizes decide how fast the page is (README, "Benchmarks").
// Prints the medians per worker count (end to end, first photo, each stage) and the speed-up
// over one worker.

import fs from 'node:fs';
import path from 'node:path';
import { launch, parseArgs, serve } from './site.mjs';

const args = parseArgs();
const site = path.resolve(args.site ?? 'pkg');
const image = path.resolve(args.image ?? 'www/samples/kodim23.png');
const runs = Number(args.runs ?? 5);
const counts = (args.workers ?? '1,2,4').split(',').map(Number);
const pause = Number(args['pause-ms'] ?? 2000);
const loads = Number(args.loads ?? 3);
const timeout = 600_000;

const server = await serve(site);
const context = await launch('cpu');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = new Map(counts.map((w) => [w, { shown: 0, times: [], firsts: [], stages: [] }]));
try {
  // Page loads interleave the worker counts, so a slow spell of the machine spreads over all.
  for (let load = 0; load < loads; load++) {
    for (const workers of counts) {
      const result = results.get(workers);
      const page = await context.newPage();
      await page.goto(`${server.url}?workers=${workers}`);
      await page.waitForFunction(() => /^Ready/.test(document.querySelector('[data-testid=status]')?.innerText ?? ''), null, { timeout });
      result.shown = Number(await page.getByTestId('workers').innerText());
      for (let r = 0; r <= runs; r++) {
        await page.waitForTimeout(pause);
        await page.evaluate(() => {
          const el = document.querySelector('[data-testid=status]');
          const t0 = performance.now();
          window.coded = new Promise((resolve, reject) => {
            const seen = () => {
              const s = el.innerText;
              if (/^Done/.test(s)) resolve(performance.now() - t0);
              else if (/^Stopped/.test(s)) reject(new Error(document.querySelector('[data-testid=error]').innerText));
              else return;
              observer.disconnect();
            };
            const observer = new MutationObserver(seen);
            observer.observe(el, { subtree: true, childList: true, characterData: true });
          });
        });
        await page.getByTestId('file-input').setInputFiles(image);
        const ms = await page.evaluate(() => window.coded);
        if (r === 0) {
          result.firsts.push(ms);
          continue;
        }
        result.times.push(ms);
        result.stages.push(
          Object.fromEntries(
            (await page.getByTestId('timings').innerText())
              .split('\n')
              .map((l) => l.split('\t'))
              .filter((c) => c.length === 2)
              .map(([s, t]) => [s, Number.parseFloat(t)]),
          ),
        );
      }
      await page.close();
    }
  }
} finally {
  await context.close();
  server.close();
}
const rows = counts.map((w) => {
  const r = results.get(w);
  const stages = Object.fromEntries(Object.keys(r.stages[0]).map((k) => [k, median(r.stages.map((s) => s[k]))]));
  return { workers: r.shown, end_to_end_ms: median(r.times), first_ms: median(r.firsts), runs: r.times, firsts: r.firsts, stages };
});

const one = rows.find((r) => r.workers === 1)?.end_to_end_ms;
console.log(`${path.basename(image)}, enhancer on, ${loads} page loads × ${runs} runs after a first photo, ${pause} ms apart; medians`);
console.log('workers | end to end | speed-up | first photo | encode | decode | enhance | measure');
for (const r of rows) {
  const s = r.stages;
  console.log(
    `${r.workers} | ${Math.round(r.end_to_end_ms)} ms | ${one ? (one / r.end_to_end_ms).toFixed(2) : '-'}× | ${Math.round(r.first_ms)} ms | ${s.encode} | ${s.decode} | ${s.enhance} | ${s.measure}`,
  );
}
if (args.json) {
  const report = {
    image: path.basename(image),
    loads,
    runs,
    pause_ms: pause,
    cores: (await import('node:os')).cpus().length,
    chromium_flags: process.env.CHROMIUM_FLAGS ?? '',
    rows,
  };
  fs.writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
}
