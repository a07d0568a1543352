// The demo and test host: one origin that serves the prebuilt OHIF viewer, an app-config.js
// generated from our settings, our bundles, the demo data and models, and DICOMweb — either
// our static DICOMweb over the demo files or a reverse proxy to a PACS. Every response is
// cross-origin isolated (COOP/COEP) so onnxruntime-web can use WASM threads.
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { renderAppConfig } from './app-config.js';
import { BUNDLES_PREFIX } from './config.js';
import { buildDicomIndex, createStaticDicomWeb } from './static-dicomweb.js';

const MIME_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
  '.dcm': 'application/dicom',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
};

// Hop-by-hop headers are per connection and must not be forwarded by a proxy.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

export class ServerSetupError extends Error {}

export function mimeTypeOf(file) {
  return MIME_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/** Resolves a URL path inside `root`, or null when it would escape it. */
function safeJoin(root, urlPath) {
  let decoded;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (decoded.includes('\0')) return null;
  const full = path.resolve(root, `.${path.posix.normalize(`/${decoded}`)}`);
  return full === root || full.startsWith(root + path.sep) ? full : null;
}

async function fileStat(file) {
  try {
    const s = await stat(file);
    return s.isFile() ? s : null;
  } catch {
    return null;
  }
}

function sendText(res, status, text, type = 'text/plain; charset=utf-8') {
  const body = Buffer.from(text);
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'no-cache' });
  res.end(body);
}

function sendFile(req, res, file, fileStats) {
  const headers = {
    'Content-Type': mimeTypeOf(file),
    'Content-Length': fileStats.size,
    'Last-Modified': fileStats.mtime.toUTCString(),
    'Cache-Control': 'no-cache',
  };
  const since = req.headers['if-modified-since'];
  if (since && Math.floor(fileStats.mtimeMs / 1000) <= Math.floor(Date.parse(since) / 1000)) {
    res.writeHead(304, { 'Last-Modified': headers['Last-Modified'], 'Cache-Control': 'no-cache' });
    return res.end();
  }
  res.writeHead(200, headers);
  if (req.method === 'HEAD') return res.end();
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}

/**
 * Rewrites a proxied query: DICOMweb plugin 1.7 (Orthanc 1.10) ignores an `includefield`
 * list whose commas are percent-encoded (`includefield=00081030%2C00080060`, as OHIF's
 * DICOMweb client sends it; checked: a literal comma works, `%2C` returns no description),
 * so decode and split every list into repeated parameters.
 */
export function splitIncludeField(search) {
  const pieces = [];
  for (const piece of search.replace(/^\?/, '').split('&')) {
    if (!piece) continue;
    const eq = piece.indexOf('=');
    const key = eq < 0 ? piece : piece.slice(0, eq);
    if (key.toLowerCase() !== 'includefield' || eq < 0) {
      pieces.push(piece); // everything else goes upstream byte for byte
      continue;
    }
    let value;
    try {
      value = decodeURIComponent(piece.slice(eq + 1).replace(/\+/g, ' '));
    } catch {
      pieces.push(piece);
      continue;
    }
    for (const field of value.split(',')) if (field.trim()) pieces.push(`${key}=${encodeURIComponent(field.trim())}`);
  }
  return pieces.length ? `?${pieces.join('&')}` : '';
}

function proxyTo(upstreamBase, req, res, subpath) {
  const [pathname, search = ''] = subpath.split(/\?(.*)/s);
  const target = new URL(upstreamBase.href.replace(/\/$/, '') + pathname + splitIncludeField(search));
  const headers = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (!HOP_BY_HOP.has(key.toLowerCase())) headers[key] = value;
  }
  // Keep the browser's Host header: PACSes (Orthanc) build bulk-data URLs from it, so they
  // point back at this origin and stay same-origin.
  headers.host = req.headers.host;
  const client = target.protocol === 'https:' ? https : http;
  const upstream = client.request(target, { method: req.method, headers }, (upRes) => {
    const out = {};
    for (const [key, value] of Object.entries(upRes.headers)) {
      if (!HOP_BY_HOP.has(key.toLowerCase())) out[key] = value;
    }
    res.writeHead(upRes.statusCode ?? 502, { ...out, ...ISOLATION_HEADERS });
    upRes.pipe(res);
  });
  upstream.on('error', (err) => {
    if (res.headersSent) return res.destroy();
    sendText(res, 502, `DICOMweb upstream ${upstreamBase.origin} unreachable: ${err.message}\n`);
  });
  req.pipe(upstream);
}

/**
 * Creates the server. `settings` comes from config.js. Returns an object with `listen()`
 * (resolves to { url, port }) and `close()`.
 */
export async function createClueServer(settings, { log = () => {} } = {}) {
  const viewerIndex = path.join(settings.viewerDir, 'index.html');
  if (!existsSync(viewerIndex)) {
    throw new ServerSetupError(
      `${viewerIndex}: the prebuilt OHIF viewer is missing — run \`bash scripts/setup.sh demo\``,
    );
  }
  for (const bundleUrl of [settings.extensionUrl, settings.modeUrl]) {
    if (!bundleUrl.startsWith(BUNDLES_PREFIX)) continue;
    const file = path.join(settings.bundlesDir, bundleUrl.slice(BUNDLES_PREFIX.length));
    if (!existsSync(file))
      log(`warning: ${file} is missing — run \`npm run build\`; the viewer will fail to load our mode`);
  }

  let dicomWeb;
  let upstreamBase;
  let wadoUriBase;
  if (settings.dataSource === 'static') {
    if (!existsSync(settings.staticDicomDir)) {
      throw new ServerSetupError(
        `${settings.staticDicomDir}: demo DICOM files are missing — run \`bash scripts/setup.sh demo\` (it generates them)`,
      );
    }
    const index = await buildDicomIndex(settings.staticDicomDir);
    log(`static DICOMweb: ${index.studies.size} studies, ${index.fileCount} instances from ${settings.staticDicomDir}`);
    dicomWeb = createStaticDicomWeb(index);
  } else {
    upstreamBase = new URL(`${settings.pacsUrl}/`);
    if (settings.pacsWadoUriUrl) wadoUriBase = new URL(settings.pacsWadoUriUrl);
  }
  const appConfigText = renderAppConfig(settings);

  async function serveFrom(root, req, res, rel) {
    const file = safeJoin(root, rel);
    const fileStats = file && (await fileStat(file));
    if (!fileStats) return sendText(res, 404, `not found: ${req.url}\n`);
    sendFile(req, res, file, fileStats);
  }

  async function handle(req, res) {
    for (const [key, value] of Object.entries(ISOLATION_HEADERS)) res.setHeader(key, value);
    const rawUrl = req.url ?? '/';
    const pathname = rawUrl.split('?')[0];

    if (pathname === '/dicom-web' || pathname.startsWith('/dicom-web/')) {
      const subpath = rawUrl.slice('/dicom-web'.length) || '/';
      if (dicomWeb) return dicomWeb(req, res, subpath);
      return proxyTo(upstreamBase, req, res, subpath);
    }
    if (pathname === '/wado' || pathname.startsWith('/wado/') || pathname.startsWith('/wado?')) {
      if (!wadoUriBase) return sendText(res, 404, 'WADO-URI is proxied only when pacsWadoUriUrl is set\n');
      return proxyTo(wadoUriBase, req, res, rawUrl.slice('/wado'.length) || '');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'read-only\n');
    if (pathname === '/app-config.js') return sendText(res, 200, appConfigText, 'text/javascript; charset=utf-8');
    if (pathname.startsWith(BUNDLES_PREFIX))
      return serveFrom(settings.bundlesDir, req, res, pathname.slice(BUNDLES_PREFIX.length));
    if (pathname.startsWith('/demo-data/'))
      return serveFrom(settings.demoDataDir, req, res, pathname.slice('/demo-data/'.length));
    if (pathname.startsWith('/models/'))
      return serveFrom(settings.modelsDir, req, res, pathname.slice('/models/'.length));

    const file = safeJoin(settings.viewerDir, pathname);
    const fileStats = file && (await fileStat(file));
    if (fileStats) return sendFile(req, res, file, fileStats);
    // Client-side routes (/, /clue, /viewer …) get the SPA; a missing asset stays a 404.
    if (path.extname(pathname) === '') return sendFile(req, res, viewerIndex, await stat(viewerIndex));
    return sendText(res, 404, `not found: ${pathname}\n`);
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      log(`error serving ${req.url}: ${err.stack ?? err}`);
      if (!res.headersSent) sendText(res, 500, `internal error: ${err.message}\n`);
      else res.destroy();
    });
  });
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  return {
    settings,
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', (err) => {
          reject(
            err.code === 'EADDRINUSE'
              ? new ServerSetupError(
                  `port ${settings.port} on ${settings.host} is in use — pick another with --port or CLUE_PORT`,
                )
              : err,
          );
        });
        server.listen(settings.port, settings.host, () => {
          const { port } = server.address();
          const hostForUrl = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
          resolve({ url: `http://${hostForUrl}:${port}`, port });
        });
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}
