// Benchmark (not a test): how long the page takes to load its weights, on a first visit
// (download, decompression, check) and a second (read from the Cache API and checked), as
// the page's own `weights` stage reports it.
//
//   node tests/e2e/loading.mjs [--site pkg] [--rounds 2]
//
// Each round opens the built site in a fresh browser profile, waits for "Ready", reloads and
// waits again, and prints the two `weights` times (README, "Loading").

import path from 'node:path';
import { launch, parseArgs, serve } from './site.mjs';

const args = parseArgs();
const site = path.resolve(args.site ?? 'pkg');
const rounds = Number(args.rounds ?? 2);
const server = await serve(site);
const weightsMs = async (page) => {
  await page.waitForFunction(() => /Ready/.test(document.body.innerText), null, { timeout: 300_000 });
  const line = (await page.evaluate(() => document.body.innerText)).split('\n').find((l) => /^weights\s/.test(l));
  return line ? Number(line.replace(/[^0-9]/g, '')) : NaN;
};
try {
  for (let round = 0; round < rounds; round++) {
    const context = await launch('cpu');
    const page = await context.newPage();
    await page.goto(server.url);
    const first = await weightsMs(page);
    await page.reload();
    const second = await weightsMs(page);
    console.log(`round ${round + 1}: weights stage ${first} ms on the first visit, ${second} ms on the second`);
    await context.close();
  }
} finally {
  server.close();
}
