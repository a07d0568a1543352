// HTTP-level checks of our server, no browser: headers, MIME types, routing, path safety,
// and the static DICOMweb's answers compared with the demo files and index.json.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { ConfigError, loadSettings } from '../../server/config.js';
import { createClueServer, mimeTypeOf, splitIncludeField } from '../../server/server.js';

/** GET with the raw path as given (fetch would normalise `..` away). */
function rawGet(baseUrl, rawPath, headers = {}) {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path: rawPath, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The parts of a multipart/related body (boundary from the Content-Type). */
function multipartParts(contentType, body) {
  const boundary = /boundary=("?)([^";]+)\1/.exec(contentType)?.[2];
  if (!boundary) return null;
  const parts = [];
  const delimiter = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delimiter);
  while (pos >= 0) {
    const start = pos + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    const next = body.indexOf(delimiter, headerEnd);
    parts.push({ headers: body.subarray(start, headerEnd).toString(), body: body.subarray(headerEnd + 4, next - 2) });
    pos = next;
  }
  return parts;
}

/** The ConfigError message loadSettings throws for these inputs, or null if it accepts them. */
function configError(options) {
  try {
    loadSettings({ env: {}, ...options });
    return null;
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
}

async function settingsChecks(expect) {
  expect(
    /^port:/.test(configError({ argv: ['--port', '70000'] }) ?? ''),
    'settings: a bad port is refused, naming the setting',
  );
  expect(
    /^pacsUrl: required/.test(configError({ argv: ['--data-source', 'dicomweb'] }) ?? ''),
    'settings: dicomweb without pacsUrl is refused',
  );
  expect(
    /^pacsUrl: not a URL/.test(
      configError({ env: { CLUE_DATA_SOURCE: 'dicomweb', CLUE_PACS_URL: 'not a url' } }) ?? '',
    ),
    'settings: a malformed pacsUrl is refused',
  );
  expect(
    /^pacsUrl: expected http\(s\)/.test(
      configError({ env: { CLUE_DATA_SOURCE: 'dicomweb', CLUE_PACS_URL: 'ftp://pacs/dicom-web' } }) ?? '',
    ),
    'settings: a non-http pacsUrl is refused',
  );
  expect(
    /unknown option --bogus/.test(configError({ argv: ['--bogus', '1'] }) ?? ''),
    'settings: an unknown flag is refused',
  );
  const dir = await mkdtemp(path.join(os.tmpdir(), 'clue-settings-'));
  try {
    const file = path.join(dir, 'settings.json');
    await writeFile(file, JSON.stringify({ port: 8123, colour: 'blue' }));
    expect(
      /settings\.json: unknown setting "colour"/.test(configError({ argv: ['--config', file] }) ?? ''),
      'settings: an unknown key in the config file is refused, naming the file',
    );
    await writeFile(
      file,
      JSON.stringify({ port: 8123, dataSource: 'dicomweb', pacsUrl: 'http://127.0.0.1:8042/dicom-web/' }),
    );
    const { settings } = loadSettings({ env: { CLUE_PORT: '8124' }, argv: ['--config', file] });
    expect(
      settings.port === 8124 && settings.pacsUrl === 'http://127.0.0.1:8042/dicom-web',
      'settings: config file, then environment (env wins), trailing slash dropped',
    );
    const fromFlag = loadSettings({ env: { CLUE_PORT: '8124' }, argv: ['--config', file, '--port=8125'] }).settings;
    expect(fromFlag.port === 8125, 'settings: a flag wins over the environment');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function httpChecks({ demo, log }) {
  const checks = [];
  const expect = (ok, what) => checks.push({ ok: Boolean(ok), what });
  await settingsChecks(expect);
  const { settings } = loadSettings({ overrides: { host: '127.0.0.1', port: 0, dataSource: 'static' } });
  const server = await createClueServer(settings);
  const { url } = await server.listen();
  try {
    const root = await rawGet(url, '/');
    expect(root.status === 200 && root.headers['content-type'].startsWith('text/html'), 'GET / serves the viewer page');
    expect(
      root.headers['cross-origin-opener-policy'] === 'same-origin' &&
        root.headers['cross-origin-embedder-policy'] === 'require-corp' &&
        root.headers['cross-origin-resource-policy'] === 'same-origin',
      'COOP same-origin, COEP require-corp, CORP same-origin',
    );
    const route = await rawGet(url, `/clue?StudyInstanceUIDs=${demo.study.StudyInstanceUID}`);
    expect(route.status === 200 && route.body.equals(root.body), 'a client route (/clue?…) gets index.html');
    const config = await rawGet(url, '/app-config.js');
    const configText = config.body.toString();
    expect(config.headers['content-type'].startsWith('text/javascript'), 'app-config.js is text/javascript');
    expect(
      configText.includes(`"${settings.extensionUrl}"`) && configText.includes(`"${settings.modeUrl}"`),
      'app-config.js lists our extension and mode URLs',
    );
    const bundle = await rawGet(url, settings.extensionUrl);
    expect(
      bundle.status === 200 && bundle.headers['content-type'].startsWith('text/javascript'),
      `${settings.extensionUrl} is served as text/javascript`,
    );
    expect(
      mimeTypeOf('ort.wasm') === 'application/wasm' &&
        mimeTypeOf('a.mjs').startsWith('text/javascript') &&
        mimeTypeOf('x.dcm') === 'application/dicom',
      'MIME types for .wasm, .mjs, .dcm',
    );
    const traversal = await rawGet(url, '/demo-data/../../package.json');
    const traversalEncoded = await rawGet(url, '/plugins/clue/%2e%2e/%2e%2e/package.json');
    expect(
      traversal.status === 404 && traversalEncoded.status === 404,
      'paths cannot escape their folders (../ and %2e%2e)',
    );
    expect((await rawGet(url, '/no-such-file.js')).status === 404, 'a missing asset is a 404, not the SPA page');
    expect(
      splitIncludeField('includefield=00081030,00080060&limit=5') ===
        '?includefield=00081030&includefield=00080060&limit=5' &&
        splitIncludeField('includefield=00081030%2C00080060') === '?includefield=00081030&includefield=00080060' &&
        splitIncludeField('?PatientName=Doe%20J*&includefield=a,b&StudyDate=2000-') ===
          '?PatientName=Doe%20J*&includefield=a&includefield=b&StudyDate=2000-',
      'proxy splits includefield lists (plain and %2C-encoded commas), other parameters untouched',
    );

    // Static DICOMweb against index.json and the files themselves.
    const studies = JSON.parse((await rawGet(url, '/dicom-web/studies?limit=101&offset=0')).body);
    expect(
      studies.length === demo.index.studies.length,
      `QIDO /studies lists ${demo.index.studies.length} studies (got ${studies.length})`,
    );
    const uid = demo.study.StudyInstanceUID;
    const one = JSON.parse((await rawGet(url, `/dicom-web/studies?StudyInstanceUID=${uid}`)).body);
    expect(
      one.length === 1 && one[0]['00081030']?.Value?.[0] === demo.study.StudyDescription,
      'QIDO StudyInstanceUID filter returns the study with its description',
    );
    const patient = demo.index.patient?.PatientName ?? '';
    const byName = JSON.parse(
      (await rawGet(url, `/dicom-web/studies?PatientName=${encodeURIComponent(`${patient.slice(0, 3)}*`)}`)).body,
    );
    expect(
      byName.length === demo.index.studies.length,
      `QIDO PatientName wildcard ${patient.slice(0, 3)}* matches all demo studies`,
    );
    const none = JSON.parse((await rawGet(url, '/dicom-web/studies?PatientID=nobody')).body);
    expect(none.length === 0, 'QIDO with a non-matching PatientID returns nothing');
    const series = JSON.parse((await rawGet(url, `/dicom-web/studies/${uid}/series`)).body);
    const expectedSeries = demo.study.series.length + demo.study.series.filter((s) => s.seg).length;
    expect(series.length === expectedSeries, `QIDO series: ${expectedSeries} series incl. SEG (got ${series.length})`);
    const s = demo.series;
    const metadata = JSON.parse(
      (await rawGet(url, `/dicom-web/studies/${uid}/series/${s.SeriesInstanceUID}/metadata`)).body,
    );
    expect(
      metadata.length === s.num_instances && metadata.every((m) => !m['7FE00010']),
      `series metadata: ${s.num_instances} instances, pixel data by reference only`,
    );
    const best = demo.lesionSlice;
    const frame = await rawGet(
      url,
      `/dicom-web/studies/${uid}/series/${s.SeriesInstanceUID}/instances/${best.sop_instance_uid}/frames/1`,
      {
        accept: 'multipart/related; type=application/octet-stream; transfer-syntax=*',
      },
    );
    const parts = multipartParts(frame.headers['content-type'], frame.body);
    const file = await readFile(path.join(settings.demoDataDir, best.url.replace(/^dicomweb:\/demo-data\//, '')));
    const bitsAllocated = metadata[0]['00280100'].Value[0];
    const frameBytes = s.rows * s.columns * (bitsAllocated / 8);
    expect(
      parts?.length === 1 &&
        parts[0].body.length === frameBytes &&
        file.subarray(file.length - frameBytes).equals(parts[0].body),
      `WADO-RS frame of the lesion slice: multipart, ${frameBytes} bytes equal to the file's pixel data`,
    );
    if (s.seg) {
      const segFile = await readFile(path.join(settings.demoDataDir, s.seg.path));
      const seg = await rawGet(
        url,
        `/dicom-web/studies/${uid}/series/${s.seg.SeriesInstanceUID}/instances/${s.seg.SOPInstanceUID}`,
        {
          accept: 'multipart/related; type="application/dicom"; transfer-syntax=*',
        },
      );
      const segParts = multipartParts(seg.headers['content-type'], seg.body);
      expect(
        segParts?.length === 1 && segParts[0].body.equals(segFile),
        'WADO-RS instance of the SEG returns the file byte for byte',
      );
    }
    expect((await rawGet(url, '/dicom-web/studies/1.2.3/series')).status === 404, 'an unknown study is a 404');
    const post = await new Promise((resolve) => {
      const { hostname, port } = new URL(url);
      http
        .request({ hostname, port, path: '/dicom-web/studies', method: 'POST' }, (res) => {
          res.resume();
          resolve(res.statusCode);
        })
        .end();
    });
    expect(post === 405, 'the static DICOMweb is read-only (POST → 405)');
  } finally {
    await server.close();
  }
  log(`  ${checks.length} HTTP checks`);
  return { checks };
}
