// A deliberately plain static file server, standing in for a hospital's own OHIF hosting:
// no generated config, no proxy, no special headers — files from a list of folders (the
// first that has the path wins, as if the folders had been copied on top of each other),
// and index.html for client-side routes.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { mimeTypeOf } from '../../../server/server.js';

/** `mounts`: [{ prefix: '/plugins/clue/', dir }] tried in order; the last should be { prefix: '/', dir: viewer }. */
export async function startPlainStaticServer(mounts, { indexFile }) {
  async function find(urlPath) {
    for (const { prefix, dir } of mounts) {
      if (!urlPath.startsWith(prefix)) continue;
      const rel = decodeURIComponent(urlPath.slice(prefix.length));
      const full = path.resolve(dir, `.${path.posix.normalize(`/${rel}`)}`);
      if (!full.startsWith(path.resolve(dir) + path.sep)) continue;
      try {
        const s = await stat(full);
        if (s.isFile()) return { file: full, size: s.size };
      } catch {
        // try the next mount
      }
    }
    return null;
  }
  const server = http.createServer(async (req, res) => {
    const urlPath = (req.url ?? '/').split('?')[0];
    let found = await find(urlPath);
    if (!found && path.extname(urlPath) === '') found = { file: indexFile, size: (await stat(indexFile)).size };
    if (!found) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      return res.end('not found\n');
    }
    res.writeHead(200, { 'Content-Type': mimeTypeOf(found.file), 'Content-Length': found.size });
    createReadStream(found.file).pipe(res);
  });
  const sockets = new Set();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
