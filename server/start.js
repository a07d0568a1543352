#!/usr/bin/env node
// The demo: starts our server and prints the URL that opens the demo study in our mode, on
// the T1 axial lesion slice, plus the study-list URL. By default the studies come from the
// embedded static DICOMweb (no PACS).
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

/**
 * Where the printed URL opens the demo: the lesion study, its T1 axial series (the contrast
 * and plane the demo model was trained on) and the slice with the most lesion, as the
 * generator's index.json records it (series.lesion.best), so the first run shows a
 * detection. Falls back to the study alone (the viewer then opens its middle slice).
 */
export function pickDemoEntry(demoDataDir) {
  const indexFile = path.join(demoDataDir, 'index.json');
  if (!existsSync(indexFile)) return null;
  const index = JSON.parse(readFileSync(indexFile, 'utf8'));
  const studies = Array.isArray(index.studies) ? index.studies : [];
  const study = studies.find((s) => s.lesion === true) ?? studies[0];
  if (!study?.StudyInstanceUID) return null;
  const series = (Array.isArray(study.series) ? study.series : []).find(
    (s) => s.contrast === 't1' && s.view === 'axial' && s.lesion?.best?.sop_instance_uid,
  );
  return {
    studyInstanceUID: study.StudyInstanceUID,
    seriesInstanceUID: series?.SeriesInstanceUID ?? null,
    sopInstanceUID: series?.lesion.best.sop_instance_uid ?? null,
    instanceNumber: series?.lesion.best.instance_number ?? null,
  };
}

/**
 * Our mode's URL for a demo entry. The series and image are named with the viewer's own URL
 * parameters (OHIF's initialSeriesInstanceUID / initialSOPInstanceUID), which our hanging
 * protocol honours (extension/src/getHangingProtocolModule.ts).
 */
export function demoUrl(baseUrl, entry) {
  const query = new URLSearchParams({ StudyInstanceUIDs: entry.studyInstanceUID });
  if (entry.seriesInstanceUID && entry.sopInstanceUID) {
    query.set('initialSeriesInstanceUID', entry.seriesInstanceUID);
    query.set('initialSOPInstanceUID', entry.sopInstanceUID);
  }
  return `${baseUrl}/${MODE_ROUTE}?${query}`;
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

  const source =
    settings.dataSource === 'static' ? 'embedded static DICOMweb (demo files)' : `DICOMweb PACS ${settings.pacsUrl}`;
  console.log(`\nCLUE for OHIF is running on ${url} — studies from the ${source}.`);
  const entry = pickDemoEntry(settings.demoDataDir);
  if (entry) {
    const where = entry.instanceNumber ? ` (T1 axial, lesion slice ${entry.instanceNumber})` : '';
    console.log(`  Demo study in the CLUE mode${where}: ${demoUrl(url, entry)}`);
  }
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
    const known =
      err instanceof ConfigError ||
      err instanceof ServerSetupError ||
      err instanceof OrthancError ||
      err instanceof DicomIndexError;
    console.error(`[clue] ${known ? err.message : (err.stack ?? err)}`);
    process.exit(known ? 2 : 1);
  });
}
