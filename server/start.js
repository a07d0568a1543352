#!/usr/bin/env node
// The demo: starts our server and prints the URL that opens the demo study in our mode, plus
// the study-list URL. By default the studies come from the embedded static DICOMweb (no PACS).
//
//   node server/start.js                          embedded demo data, http://127.0.0.1:3000
//   node server/start.js --pacs orthanc           start a throw-away Orthanc, upload the demo
//                                                 data into it, and proxy to it
//   node server/start.js --pacs http://host/dicom-web   proxy to any DICOMweb PACS
//   node server/start.js --port 8080 --config my.json   (see server/README.md for all settings)
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadSettings } from './config.js';
import { OrthancError, startOrthanc, uploadDicomFolder } from './orthanc.js';
import { ServerSetupError, createClueServer } from './server.js';
import { DicomIndexError } from './static-dicomweb.js';

const MODE_ROUTE = 'clue';

/** The demo study to open: the first lesion study in the generator's index.json, if any. */
export function pickDemoStudy(demoDataDir) {
  const indexFile = path.join(demoDataDir, 'index.json');
  if (!existsSync(indexFile)) return null;
  const index = JSON.parse(readFileSync(indexFile, 'utf8'));
  const studies = Array.isArray(index.studies) ? index.studies : [];
  const withLesion = studies.find((s) => s.lesion === true);
  const study = withLesion ?? studies[0];
  return study?.StudyInstanceUID ?? null;
}

async function main() {
  const { settings: parsed, extra } = loadSettings({ argv: process.argv.slice(2), extraFlags: ['--pacs'] });
  let settings = parsed;
  let orthanc = null;
  const log = (line) => console.log(`[clue] ${line}`);

  if (extra.pacs === 'orthanc') {
    orthanc = await startOrthanc({ log });
    const count = await uploadDicomFolder(orthanc.url, settings.staticDicomDir).catch(async (err) => {
      await orthanc.stop();
      throw err;
    });
    log(`uploaded ${count} demo instances to Orthanc`);
    ({ settings } = loadSettings({
      argv: process.argv.slice(2),
      extraFlags: ['--pacs'],
      overrides: { dataSource: 'dicomweb', pacsUrl: orthanc.dicomWebUrl, pacsWadoUriUrl: orthanc.wadoUriUrl },
    }));
  } else if (extra.pacs) {
    ({ settings } = loadSettings({
      argv: process.argv.slice(2),
      extraFlags: ['--pacs'],
      overrides: { dataSource: 'dicomweb', pacsUrl: extra.pacs },
    }));
  }

  let server;
  try {
    server = await createClueServer(settings, { log });
  } catch (err) {
    await orthanc?.stop();
    throw err;
  }
  const { url } = await server.listen().catch(async (err) => {
    await orthanc?.stop();
    throw err;
  });

  const source = settings.dataSource === 'static' ? 'embedded static DICOMweb (demo files)' : `DICOMweb PACS ${settings.pacsUrl}`;
  console.log(`\nCLUE for OHIF is running on ${url} — studies from the ${source}.`);
  const study = pickDemoStudy(settings.demoDataDir);
  if (study) console.log(`  Demo study in the CLUE mode: ${url}/${MODE_ROUTE}?StudyInstanceUIDs=${study}`);
  console.log(`  Study list:                  ${url}/`);
  console.log('Press Ctrl+C to stop.');

  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.close();
    await orthanc?.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (isMain) {
  main().catch((err) => {
    const known = err instanceof ConfigError || err instanceof ServerSetupError || err instanceof OrthancError || err instanceof DicomIndexError;
    console.error(`[clue] ${known ? err.message : err.stack ?? err}`);
    process.exit(known ? 2 : 1);
  });
}
