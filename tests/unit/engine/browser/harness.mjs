// Shared by the browser check and the measurement script: build the engine as the extension
// build does (the repo's webpack config, engine.ts as an importable entry), serve it with a
// model folder from one origin (COOP/COEP optional), and open headless Debian Chromium.
import { createReadStream, existsSync, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import webpack from 'webpack';
import { chromium } from 'playwright-core';
import { CHROMIUM_PATH, QUIET_HEADLESS_FLAGS, withWebGpu } from '../../../e2e/lib/chromium.js';
import makeConfig from '../../../../webpack.config.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');

export async function buildEngine(distDir) {
  const config = makeConfig({}, { mode: 'production' });
  config.entry = {
    'engine-harness': './extension/src/engine/engine.ts',
    'clue-engine-worker': './extension/src/engine/worker.ts',
  };
  config.output.path = distDir;
  config.devtool = false;
  await new Promise((resolve, reject) =>
    webpack(config, (error, stats) =>
      error || stats.hasErrors() ? reject(error ?? new Error(stats.toString('errors-only'))) : resolve(),
    ),
  );
}

const TYPES = {
  '.js': 'text/javascript',
  '.mjs': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
};

/** `/` → empty page, `/clue/*` → distDir, anything else → files under `root`. */
export function serve({ distDir, root, isolated }) {
  const requests = [];
  const headers = isolated
    ? {
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
        'cross-origin-resource-policy': 'same-origin',
      }
    : {};
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    requests.push(url.pathname);
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html', ...headers }).end('<!doctype html><title>engine</title>');
      return;
    }
    const file = url.pathname.startsWith('/clue/')
      ? path.join(distDir, url.pathname.slice('/clue/'.length))
      : path.join(root, decodeURIComponent(url.pathname));
    if (!existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, headers).end();
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': statSync(file).size,
      ...headers,
    });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, requests, origin: `http://127.0.0.1:${server.address().port}` }),
    ),
  );
}

const CHROMIUM = { executablePath: CHROMIUM_PATH, args: [...QUIET_HEADLESS_FLAGS] };

/** A browser whose contexts are ephemeral (small storage quota, like a private window). */
export function launchChromium({ webgpu = false } = {}) {
  return chromium.launch(webgpu ? { ...CHROMIUM, args: withWebGpu(CHROMIUM.args) } : CHROMIUM);
}

/** A profile on disk (`userDataDir`): real storage quota, as a user's browser has. */
export function launchChromiumProfile(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, CHROMIUM);
}

/** Evaluates `body(arg)` in a fresh page served from `site` (a browser, or a profile's context). */
export async function inPage(browserOrProfile, site, body, arg) {
  const { server, requests, origin } = await serve(site);
  const ephemeral = typeof browserOrProfile.newContext === 'function';
  const context = ephemeral ? await browserOrProfile.newContext() : browserOrProfile;
  const page = await context.newPage();
  page.on('pageerror', (error) => console.log('[pageerror]', error.message));
  await page.goto(`${origin}/`);
  try {
    return { result: await page.evaluate(body, arg), requests };
  } finally {
    await (ephemeral ? context.close() : page.close());
    server.close();
  }
}
