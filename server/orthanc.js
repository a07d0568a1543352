// Starts Debian's Orthanc (with its DICOMweb plugin) as a throw-away PACS on loopback: a temp
// storage folder, a free port, no remote access, no DICOM network listener. Used by the e2e
// tests and by `node server/start.js --pacs orthanc`. Authentication is off: tests and the
// local demo only — this instance accepts no connection from other machines.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

// CLUE_ORTHANC overrides the binary (e.g. a locally built Orthanc).
export const ORTHANC_BINARY = process.env.CLUE_ORTHANC ?? '/usr/sbin/Orthanc';
export const DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

export class OrthancError extends Error {}

// Orthanc processes started here and not yet stopped: killed if this process exits without
// stopping them (an uncaught error, a time limit), so no PACS outlives its test run.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** A port the OS says is free on loopback right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Throws a clear error when Orthanc or its DICOMweb plugin is not installed. */
export function checkOrthancInstalled({ binary = ORTHANC_BINARY, plugin = DICOMWEB_PLUGIN } = {}) {
  if (!existsSync(binary)) {
    throw new OrthancError(
      `${binary}: Orthanc is not installed — as root: apt-get install orthanc orthanc-dicomweb (or run scripts/setup.sh test)`,
    );
  }
  if (!existsSync(plugin)) {
    throw new OrthancError(
      `${plugin}: Orthanc's DICOMweb plugin is not installed — as root: apt-get install orthanc-dicomweb`,
    );
  }
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Starts Orthanc and waits (bounded) until its REST API answers.
 * Returns { url, dicomWebUrl, wadoUriUrl, port, stop() }.
 */
export async function startOrthanc({
  port,
  timeoutMs = 30000,
  log = () => {},
  binary = ORTHANC_BINARY,
  plugin = DICOMWEB_PLUGIN,
} = {}) {
  checkOrthancInstalled({ binary, plugin });
  const httpPort = port ?? (await freePort());
  const workDir = await mkdtemp(path.join(os.tmpdir(), 'clue-orthanc-'));
  const configFile = path.join(workDir, 'orthanc.json');
  const config = {
    Name: 'CLUE-TEST',
    HttpPort: httpPort,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomServerEnabled: false,
    StorageDirectory: path.join(workDir, 'storage'),
    IndexDirectory: path.join(workDir, 'index'),
    Plugins: [plugin],
    HttpCompressionEnabled: false,
    DicomWeb: { Enable: true, Root: '/dicom-web/', EnableWado: true, WadoRoot: '/wado' },
  };
  await writeFile(configFile, JSON.stringify(config, null, 2));

  const child = spawn(binary, [configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      exited = { code, signal };
      resolve(exited);
    });
    child.on('error', (err) => {
      running.delete(child);
      exited = { code: null, signal: null, error: err };
      resolve(exited);
    });
  });

  const url = `http://127.0.0.1:${httpPort}`;
  const instance = {
    url,
    dicomWebUrl: `${url}/dicom-web`,
    wadoUriUrl: `${url}/wado`,
    port: httpPort,
    pid: child.pid,
    /** Stops Orthanc (SIGTERM, then SIGKILL after a bounded wait) and removes its files. */
    async stop({ graceMs = 10000 } = {}) {
      if (!exited) {
        child.kill('SIGTERM');
        const done = await Promise.race([exitPromise, delay(graceMs).then(() => null)]);
        if (!done) {
          child.kill('SIGKILL');
          await exitPromise;
        }
      }
      await rm(workDir, { recursive: true, force: true });
    },
  };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) {
      await instance.stop();
      throw new OrthancError(
        `Orthanc exited during start-up (code ${exited.code}, signal ${exited.signal}${exited.error ? `, ${exited.error.message}` : ''}):\n${output}`,
      );
    }
    try {
      const res = await fetch(`${url}/system`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) {
        const system = await res.json();
        log(`Orthanc ${system.Version} on ${url} (pid ${child.pid}, storage ${workDir})`);
        break;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await instance.stop();
      throw new OrthancError(`Orthanc did not answer on ${url}/system within ${timeoutMs} ms; its output:\n${output}`);
    }
    await delay(200);
  }
  return instance;
}

async function listDicomFiles(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listDicomFiles(full)));
    else if (entry.isFile() && entry.name.toLowerCase().endsWith('.dcm')) out.push(full);
  }
  return out.sort();
}

/** Uploads every .dcm under `dir` with POST /instances; returns the number stored. */
export async function uploadDicomFolder(orthancUrl, dir, { concurrency = 4 } = {}) {
  if (!existsSync(dir)) throw new OrthancError(`${dir}: no such folder of DICOM files to upload`);
  const files = await listDicomFiles(dir);
  if (files.length === 0) throw new OrthancError(`${dir}: no .dcm files to upload`);
  let next = 0;
  async function worker() {
    while (next < files.length) {
      const file = files[next++];
      const body = await readFile(file);
      const res = await fetch(`${orthancUrl}/instances`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/dicom' },
        body,
      });
      if (!res.ok)
        throw new OrthancError(
          `${file}: Orthanc rejected the upload (HTTP ${res.status}: ${(await res.text()).slice(0, 300)})`,
        );
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return files.length;
}
