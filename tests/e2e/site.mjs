// What the page's end-to-end test and benchmark share: the built site served under a
// sub-path (relative URLs must work, as on GitHub Pages), headless Chromium, and the
// command line's --name value pairs.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

/** `--name value` pairs of the command line, as an object. */
export function parseArgs() {
  const all = process.argv.slice(2);
  return Object.fromEntries(all.flatMap((a, i) => (a.startsWith('--') ? [[a.slice(2), all[i + 1]]] : [])));
}

/** Serves `site` as http://127.0.0.1:PORT/sub/sacodec/; `close()` stops the server. */
export async function serve(site) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sacodec-site-'));
  fs.mkdirSync(path.join(root, 'sub'));
  fs.symlinkSync(site, path.join(root, 'sub', 'sacodec'));
  const port = 18000 + Math.floor(Math.random() * 2000);
  const server = spawn('python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', root], {
    stdio: 'ignore',
  });
  const url = `http://127.0.0.1:${port}/sub/sacodec/`;
  for (let i = 0; i < 50; i++) {
    try {
      await fetch(url);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return { url, origin: `http://127.0.0.1:${port}/`, close: () => server.kill() };
}

/** Headless Chromium in a fresh profile; `--enable-unsafe-webgpu` for the webgpu backend,
 * and the flags in $CHROMIUM_FLAGS. */
export function launch(backend) {
  const flags = [
    '--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
  ];
  if (backend === 'webgpu') flags.push('--enable-unsafe-webgpu');
  // Extra flags for experiments, e.g. CHROMIUM_FLAGS='--js-flags=--no-wasm-dynamic-tiering'.
  flags.push(...(process.env.CHROMIUM_FLAGS ?? '').split(' ').filter(Boolean));
  // A fresh profile, removed when the process exits (a failed check included).
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'sacodec-chromium-'));
  process.on('exit', () => fs.rmSync(profile, { recursive: true, force: true, maxRetries: 3 }));
  return chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: flags,
    acceptDownloads: true,
    viewport: { width: 1280, height: 1400 },
  });
}
