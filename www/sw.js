// The page's service worker: after a first visit the page works offline.
//
// On install it caches the app shell: the page, every file the page names (Trunk's hashed
// wasm, JS and CSS, the icon), the two Web Workers' scripts and the weights' manifest. A
// worker's wasm is cached when the page first uses it (the CPU path never fetches the
// WebGPU worker's, nor the WebGPU path the CPU worker's, unless its GPU is lost). Every same-origin GET then goes to
// the network first (so a new deployment is seen at once) and falls back to this cache when
// the network fails. The weights are not cached here: the page keeps them itself in the
// Cache API ('sacodec-weights', checked against the manifest's BLAKE3).
const SHELL = 'sacodec-shell';

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL);
      const page = await fetch('./', { cache: 'no-cache' });
      const html = await page.clone().text();
      await cache.put('./', page);
      const named = [...html.matchAll(/(?:href|src)="([^"]+)"/g)]
        .map((m) => m[1])
        .filter((u) => !/^[a-z]+:/i.test(u));
      // Best effort: one file that cannot be fetched does not stop the rest.
      const worker = ['sacodec-worker', 'sacodec-worker-gpu'].flatMap((w) => [`${w}_loader.js`, `${w}.js`]);
      await Promise.allSettled(
        [...named, ...worker, 'weights/manifest.json'].map((u) => cache.add(u)),
      );
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.endsWith('.safetensors.lzma')) return; // the page's own cache
  event.respondWith(
    (async () => {
      const cache = await caches.open(SHELL);
      try {
        const response = await fetch(request);
        if (response.ok) await cache.put(request, response.clone());
        return response;
      } catch (offline) {
        const key = request.mode === 'navigate' ? './' : request;
        const cached = await cache.match(key, { ignoreSearch: request.mode === 'navigate' });
        if (cached) return cached;
        throw offline;
      }
    })(),
  );
});
