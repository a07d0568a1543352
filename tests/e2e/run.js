#!/usr/bin/env node
// Browser end-to-end tests: Debian's Chromium (playwright-core) ↔ our server ↔ the studies.
//
// Scenarios (each with a fresh browser profile and its own servers):
//   http      — no browser: our server's headers, MIME types, routing, path safety, and the
//               static DICOMweb's answers checked against index.json and the files
//   embedded  — our server's static DICOMweb over the demo files (what `npm start` serves):
//               study list → our mode → demo lesion study → T1 axial lesion slice → run
//               button → labelmap (voxels vs the extension's stored map, counted by the test) + panel → threshold
//               slider → labelmap again; then the series' ground-truth SEG loads with the
//               file's voxels
//   embedded-ohif-3.12, embedded-ohif-3.14 — the embedded flow on the prebuilt OHIF 3.12.10
//               and 3.14.0-beta.6 (the default host is 3.13.2): the supported range
//   embedded-webgpu — the embedded flow on 3.13.2 with WebGPU offered (Chromium's software
//               SwiftShader adapter) and `clue.allowSoftwareGpu: true` in the app config: the
//               model runs on WebGPU (store and panel say so) and the labelmap checks hold
//   start     — `npm start`'s server/start.js as a process: the URL it prints opens our mode
//               on the demo's T1 axial lesion slice (series and image from the URL, nothing
//               scrolled), where the run button gives labelmap voxels; the panel shows the
//               model's validated domain and the slice inside it; Ctrl+C-style stop
//   orthanc   — the same flow against a real PACS: Debian's Orthanc + DICOMweb plugin on
//               loopback, loaded with the demo files, behind our same-origin proxy
//   deploy    — a plain static server (no proxy, no generated config, no special headers)
//               serving the viewer, our copied bundles and OHIF's own app-config.js plus
//               the two entries of docs/deploy.md: our mode opens the demo study from
//               OHIF's static dicomjson data source and the run button works
//   workflow*, results, results-orthanc, mpr — tests/e2e/scenarios/ (the anomaly workflow, the
//               ground-truth comparison and saving, MPR planes)
//   results-odd-size — series of 233×197 and 234×198 (not multiples of 8) stored to Orthanc:
//               the panel says before storing what OHIF 3.13 cannot reopen and promises only
//               what it can, which is then reopened and checked
// Every scenario also checks that the page requested nothing from any other origin.
// Screenshots: test-results/e2e-<scenario>.png. Ends with "N passed, N failed".
//
// Usage: node tests/e2e/run.js [scenario ...]     (default: all)
// Env: CLUE_CHROMIUM (browser path), CLUE_DEMO_DATA_DIR / CLUE_STATIC_DICOM_DIR / CLUE_BUNDLES_DIR
// (as for the server), CLUE_E2E_TIMEOUT_S (per scenario, default 240).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadSettings, OHIF_APP_VERSION, ohifViewerDir, REPO_ROOT } from '../../server/config.js';
import { checkOrthancInstalled, startOrthanc, uploadDicomFolder } from '../../server/orthanc.js';
import { createClueServer } from '../../server/server.js';
import { BrowserMissingError, checkChromiumInstalled, launchChromium } from './lib/chromium.js';
import {
  displayedImage,
  jumpToSop,
  labelmapOnDisplayedImage,
  loadedSegVoxels,
  mapExpectedCount,
} from './lib/page-state.js';
import { startPlainStaticServer } from './lib/plain-static-server.js';
import { requireModel } from './lib/viewer-steps.js';
import { segSetBits } from './lib/seg-file.js';
import { httpChecks } from './http-checks.js';
import { workflowScenarios } from './scenarios/workflow.js';
import { resultsScenarios } from './scenarios/results.js';
import { mprScenarios } from './scenarios/mpr.js';

// Names from the extension and mode (copied from extension/src/ids.ts, which is TypeScript
// and not importable here); the host renders the toolbar
// button as data-cy="<id>" and the panel tab as data-cy="<panel name>-btn".
const MODE_ROUTE = 'clue';
const RUN_BUTTON_ID = 'clueRunOnSlice';
const PANEL_NAME = 'cluePanel';
const SEGMENTATION_ID_PREFIX = 'clue-anomaly::';
const ANOMALY_SEGMENT_INDEX = 1;
const DEFAULT_THRESHOLD = 0.5;

const RESULTS_DIR = path.join(REPO_ROOT, 'test-results');
const SCENARIO_TIMEOUT_MS = Number(process.env.CLUE_E2E_TIMEOUT_S ?? 240) * 1000;
const STEP_TIMEOUT_MS = 90000;

class PrerequisiteError extends Error {}

function log(line) {
  console.log(`[e2e] ${line}`);
}

// --- Prerequisites: fail fast, with the fix in the message, instead of hanging.
function demoIndex(settings) {
  const complete = path.join(settings.demoDataDir, '.complete');
  const indexFile = path.join(settings.demoDataDir, 'index.json');
  if (!existsSync(complete) || !existsSync(indexFile)) {
    throw new PrerequisiteError(
      `${settings.demoDataDir}: demo data missing or incomplete — run \`bash scripts/setup.sh test\` (or .venv/bin/clue demo-data --out data/generated/demo --seed 0)`,
    );
  }
  const index = JSON.parse(readFileSync(indexFile, 'utf8'));
  const study = index.studies?.find((s) => s.lesion === true);
  // The series we run on: T1 axial, the contrast and view the demo model was trained on.
  const pickSeries = (contrast) =>
    study?.series?.find((s) => s.view === 'axial' && s.contrast === contrast && s.lesion?.best);
  const series = pickSeries('t1');
  if (!study || !series) throw new PrerequisiteError(`${indexFile}: no lesion study with an axial lesion series`);
  return { index, study, series, lesionSlice: series.lesion.best };
}

function checkCommon(settings) {
  checkChromiumInstalled();
  if (!existsSync(path.join(settings.viewerDir, 'index.html'))) {
    throw new PrerequisiteError(
      `${settings.viewerDir}: prebuilt OHIF viewer missing — run \`bash scripts/setup.sh test\``,
    );
  }
  for (const name of ['clue-extension.js', 'clue-mode.js']) {
    if (!existsSync(path.join(settings.bundlesDir, name))) {
      throw new PrerequisiteError(`${path.join(settings.bundlesDir, name)}: bundle missing — run \`npm run build\``);
    }
  }
}

// --- One bounded step with a name, so a timeout says where it stopped.
async function step(name, fn) {
  const started = Date.now();
  try {
    return await fn();
  } catch (err) {
    err.message = `${name}: ${err.message}`;
    throw err;
  } finally {
    log(`  ${name} (${Date.now() - started} ms)`);
  }
}

/** Watches a page: other-origin requests, page errors, console errors, scriptToView timings. */
function watchPage(page, origin) {
  const watch = { foreign: [], pageErrors: [], consoleErrors: [], scriptToView: [] };
  page.on('request', (req) => {
    const url = req.url();
    if (url.startsWith('data:') || url.startsWith('blob:')) return;
    if (new URL(url).origin !== origin) watch.foreign.push(url);
  });
  page.on('pageerror', (err) => watch.pageErrors.push(err.message));
  page.on('console', (msg) => {
    const text = msg.text();
    if (msg.type() === 'error') watch.consoleErrors.push(text.slice(0, 300));
    const m = /scriptToView: ([\d.]+) ms/.exec(text);
    if (m) watch.scriptToView.push(Number(m[1]));
  });
  return watch;
}

/** Polls a page-state function until `accept(result)` (a string of JS over `s`) holds. */
async function waitForState(page, fn, arg, accept, timeout = STEP_TIMEOUT_MS) {
  const expression = `(() => { let s; try { s = (${fn})(${JSON.stringify(arg ?? null)}); } catch (e) { return null; } return (${accept}) ? s : null; })()`;
  const handle = await page.waitForFunction(expression, null, { timeout, polling: 100 });
  return handle.jsonValue();
}

/** From the viewer in our mode: go to the lesion slice, press our button, check the result. */
async function runOnLesionSlice(page, demo, timings) {
  const shown = await step('first image displayed', () => waitForState(page, displayedImage, null, 's !== null'));
  timings.firstImageMs = Date.now() - timings.modeEnteredAt;
  if (!(await page.evaluate(() => typeof window.__clue?.getState === 'function'))) {
    throw new Error('our extension is not loaded in the page (no window.__clue inspection hook)');
  }
  if (shown.seriesInstanceUID !== demo.series.SeriesInstanceUID) {
    await step(`load "${demo.series.SeriesDescription}" from its thumbnail`, async () => {
      const thumbnail = page.locator(`[data-cy="study-browser-thumbnail"][data-series="${demo.series.SeriesNumber}"]`);
      await thumbnail.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
      await thumbnail.dblclick();
      await waitForState(
        page,
        displayedImage,
        null,
        `s !== null && s.seriesInstanceUID === ${JSON.stringify(demo.series.SeriesInstanceUID)}`,
      );
    });
  }
  await step(`scroll to the lesion slice (instance ${demo.lesionSlice.instance_number})`, async () => {
    const found = await page.evaluate(jumpToSop, demo.lesionSlice.sop_instance_uid);
    if (!found) throw new Error(`the displayed series has no image ${demo.lesionSlice.sop_instance_uid}`);
    await waitForState(
      page,
      displayedImage,
      null,
      `s !== null && s.sopInstanceUID === ${JSON.stringify(demo.lesionSlice.sop_instance_uid)}`,
    );
  });

  await step('press our toolbar button', async () => {
    const button = page.locator(`[data-cy="${RUN_BUTTON_ID}"]`);
    await button.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    await button.click();
  });
  const clickedAt = Date.now();
  // Wait for the run to finish (the extension's status), then read the host's state.
  const finished = await step('run finished', () =>
    page
      .waitForFunction(
        () => {
          const state = window.__clue?.getState?.();
          return state && (state.status === 'done' || state.status === 'error') && state.lastResult !== undefined
            ? state
            : null;
        },
        null,
        { timeout: STEP_TIMEOUT_MS, polling: 100 },
      )
      .then((h) => h.jsonValue()),
  );
  if (finished.status === 'error') throw new Error(`the run failed in the viewer: ${finished.error}`);
  const labelmap = await step('labelmap on the displayed image', () =>
    waitForState(page, labelmapOnDisplayedImage, { idPrefix: SEGMENTATION_ID_PREFIX }, 's.found && s.shownInViewport'),
  );
  timings.runMs = Date.now() - clickedAt;

  // The labelmap must hold exactly our segment, on the displayed image, with the voxels the
  // map gives at the threshold.
  const checks = [];
  const expect = (ok, what) => checks.push({ ok, what });
  expect(labelmap.imageId === (await page.evaluate(displayedImage)).imageId, 'labelmap references the displayed image');
  expect(
    Object.keys(labelmap.counts).every((k) => Number(k) === ANOMALY_SEGMENT_INDEX),
    `only segment ${ANOMALY_SEGMENT_INDEX} written (got ${JSON.stringify(labelmap.counts)})`,
  );
  const voxelCount = labelmap.counts[ANOMALY_SEGMENT_INDEX] ?? 0;
  expect(voxelCount < labelmap.voxels, `labelmap is not the whole slice (${voxelCount} of ${labelmap.voxels})`);
  const hook = finished;
  const mapName = hook?.lastResult?.mapName;
  const threshold = hook?.lastResult?.threshold ?? DEFAULT_THRESHOLD;
  expect(voxelCount > 0, `labelmap has voxels on the lesion slice (${voxelCount})`);
  const expected = await page.evaluate(mapExpectedCount, { threshold });
  expect(
    voxelCount === expected,
    `voxels equal the stored map's pixels at threshold ${threshold}, counted independently (${voxelCount} vs ${expected})`,
  );
  expect(hook.lastResult?.imageId === labelmap.imageId, 'the extension ran on the displayed image');
  expect(
    hook.lastResult?.voxelCount === voxelCount,
    `the extension's reported count matches the host's labelmap (${hook.lastResult?.voxelCount} vs ${voxelCount})`,
  );

  // The panel shows the result (its voxel-count cell, opened from its tab if closed).
  const panelText = await step('panel shows the result', async () => {
    const panel = page.locator('[data-testid="clue-panel"]');
    const tab = page.locator(`[data-cy="${PANEL_NAME}-btn"]`);
    if (!(await panel.isVisible()) && (await tab.count())) await tab.first().click();
    await panel.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    return page
      .waitForFunction(
        (count) => {
          const text = document.querySelector('[data-testid="clue-result-voxels"]')?.textContent?.trim();
          return text === String(count) ? text : null;
        },
        voxelCount,
        { timeout: 20000, polling: 100 },
      )
      .then(
        (h) => h.jsonValue(),
        () =>
          page
            .locator('[data-testid="clue-result-voxels"]')
            .textContent({ timeout: 1000 })
            .catch(() => null),
      );
  });
  expect(
    panelText === String(voxelCount),
    `panel shows the voxel count ${voxelCount} (shows ${JSON.stringify(panelText)})`,
  );

  // The panel's threshold slider re-thresholds the same map into the host's labelmap: move it
  // halfway from the model's default threshold to 1 (on the slider's 0.01 grid).
  const raised = Math.min(0.99, Math.ceil((threshold + (1 - threshold) / 2) * 100) / 100);
  await step(`raise the threshold to ${raised} with the panel slider`, async () => {
    await page.locator('[data-testid="clue-threshold-slider"]').fill(String(raised));
    await page.waitForFunction((t) => window.__clue.getState().lastResult?.threshold === t, raised, {
      timeout: STEP_TIMEOUT_MS,
      polling: 100,
    });
  });
  const after = await page.evaluate(labelmapOnDisplayedImage, { idPrefix: SEGMENTATION_ID_PREFIX });
  const afterCount = after.counts[ANOMALY_SEGMENT_INDEX] ?? 0;
  expect(afterCount <= voxelCount, `a higher threshold keeps fewer voxels (${afterCount} ≤ ${voxelCount})`);
  const expectedAfter = await page.evaluate(mapExpectedCount, { threshold: raised });
  expect(
    afterCount === expectedAfter,
    `after the slider: voxels equal the stored map's pixels at ${raised} (${afterCount} vs ${expectedAfter})`,
  );
  const shownAfter = await page
    .waitForFunction(
      (count) =>
        document.querySelector('[data-testid="clue-result-voxels"]')?.textContent?.trim() === String(count)
          ? true
          : null,
      afterCount,
      { timeout: 20000, polling: 100 },
    )
    .then(
      () => true,
      () => false,
    );
  expect(shownAfter, `panel shows the new count ${afterCount}`);
  return { labelmap, voxelCount, checks, mapName, threshold };
}

/** Opens the series' ground-truth SEG from its thumbnail; the host's labelmap must hold the file's voxels. */
async function groundTruthSeg(page, demo, demoDataDir) {
  const seg = demo.series.seg;
  const expected = await segSetBits(path.join(demoDataDir, seg.path));
  const description = `Ground truth: ${demo.series.SeriesDescription}`;
  const loaded = await step(`load the ground-truth SEG "${description}"`, async () => {
    await page.locator(`[data-cy^="study-browser-thumbnail"][data-series="${seg.SeriesNumber}"]`).first().dblclick();
    return waitForState(page, loadedSegVoxels, { label: description }, 's !== null');
  });
  return {
    ok: loaded.nonzero === expected,
    what: `ground-truth SEG served and loaded: ${loaded.nonzero} labelmap voxels = ${expected} set bits in the SEG file`,
  };
}

// --- Scenarios

async function viewerScenario({ name, page, baseUrl, demo, entry, demoDataDir }) {
  const timings = {};
  const watch = watchPage(page, new URL(baseUrl).origin);
  if (entry === 'study-list') {
    await step('open the study list', async () => {
      await page.goto(`${baseUrl}/`, { timeout: STEP_TIMEOUT_MS });
      timings.pageLoadMs = await page.evaluate(() =>
        Math.round(performance.getEntriesByType('navigation')[0].loadEventEnd),
      );
      await page.locator('tr', { hasText: demo.study.StudyDescription }).first().waitFor({ timeout: STEP_TIMEOUT_MS });
    });
    timings.studyListMs = watch.scriptToView[0];
    await step('select the demo lesion study', () =>
      page.locator('tr', { hasText: demo.study.StudyDescription }).first().click(),
    );
    await step('enter our mode from the workflow list', async () => {
      // Any button: 3.13+ give the mode buttons a title, 3.12.10 does not.
      const launch = page.locator('button').filter({ hasText: /CLUE anomaly map/i });
      await launch.first().waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
      timings.modeEnteredAt = Date.now();
      await launch.first().click();
      await page.waitForURL(
        (url) =>
          url.pathname === `/${MODE_ROUTE}` &&
          url.searchParams.get('StudyInstanceUIDs') === demo.study.StudyInstanceUID,
        { timeout: STEP_TIMEOUT_MS },
      );
    });
  } else {
    await step('open our mode on the demo study', async () => {
      timings.modeEnteredAt = Date.now();
      await page.goto(entry, { timeout: STEP_TIMEOUT_MS });
      timings.pageLoadMs = await page.evaluate(() =>
        Math.round(performance.getEntriesByType('navigation')[0].loadEventEnd),
      );
    });
  }
  const result = await runOnLesionSlice(page, demo, timings);
  // The extension tells the host apart by its Cornerstone version (OHIF exposes none of its own).
  const host = await page.evaluate(() => window.__clue?.getState().host ?? null);
  const cautionShown = await page.locator('[data-testid="clue-host-caution"]').count();
  result.checks.push({
    ok: Boolean(host?.testedAs) && host?.caution === null && cautionShown === 0,
    what: `host recognised as tested, no caution in the panel: Cornerstone ${host?.cornerstoneVersion} = ${host?.testedAs}`,
  });
  // Which model file runs: the manifest's int8 on WASM (its recorded AUROC loss is within the
  // engine's tolerance), float32 on a WebGPU adapter without shader-f16; the panel says which.
  const model = await page.evaluate(() => window.__clue?.getState().model ?? null);
  const variantShown = await page.locator('[data-testid="clue-model-variant"]').getAttribute('data-dtype');
  const expectedDtype = model?.backend === 'wasm' ? 'int8' : 'float32';
  result.checks.push({
    ok: model?.variant?.dtype === expectedDtype && variantShown === expectedDtype,
    what: `model variant on ${model?.backend}: ${model?.variant?.dtype} (${model?.variant?.path}), shown in the panel (${variantShown})`,
  });
  const shot = path.join(RESULTS_DIR, `e2e-${name}.png`);
  await page.screenshot({ path: shot });
  result.checks.push({
    ok: watch.foreign.length === 0,
    what: `no requests to other origins${watch.foreign.length ? `: ${[...new Set(watch.foreign)].slice(0, 5).join(', ')}` : ''}`,
  });
  result.checks.push({
    ok: watch.pageErrors.length === 0,
    what: `no uncaught page errors${watch.pageErrors.length ? `: ${watch.pageErrors.slice(0, 3).join(' | ')}` : ''}`,
  });
  // The ground-truth SEG loads from our static DICOMweb and from Orthanc: the demo images'
  // rows and columns are multiples of 8, so the 1-bit SEG frames are byte-aligned (OHIF
  // 3.13.2's SEG loader and Orthanc 1.10's frame extraction both fail otherwise). Not on the
  // dicomjson source of the deploy scenario: OHIF's dicomjson gives every frame of a
  // multi-frame instance the same URL, so each SEG frame decodes as frame 1 (seen: 1290 of
  // 22426 voxels).
  if (name !== 'deploy' && demo.series.seg) result.checks.push(await groundTruthSeg(page, demo, demoDataDir));
  if (name !== 'deploy') {
    const isolated = await page.evaluate(() => window.crossOriginIsolated);
    result.checks.push({ ok: isolated === true, what: 'page is cross-origin isolated (WASM threads possible)' });
  }
  return { ...result, timings, screenshot: shot, watch };
}

/** The embedded flow (study list → our mode → run on the lesion slice) on one host version. */
async function embeddedOn(ctx, name, ohifVersion, { allowSoftwareGpu = false } = {}) {
  const viewerDir = ohifViewerDir(ohifVersion);
  if (!existsSync(path.join(REPO_ROOT, viewerDir, 'index.html'))) {
    throw new PrerequisiteError(
      `${viewerDir}: prebuilt OHIF viewer ${ohifVersion} missing — run \`bash scripts/setup.sh test\``,
    );
  }
  const { settings } = loadSettings({ overrides: { host: '127.0.0.1', port: 0, dataSource: 'static', viewerDir } });
  const server = await createClueServer(
    allowSoftwareGpu ? { ...settings, clueConfig: { allowSoftwareGpu } } : settings,
  );
  ctx.cleanups.push(() => server.close());
  const { url } = await server.listen();
  return viewerScenario({
    name,
    page: ctx.page,
    baseUrl: url,
    demo: ctx.demo,
    entry: 'study-list',
    demoDataDir: settings.demoDataDir,
  });
}

const SCENARIOS = {
  // No browser: our server's HTTP behaviour and the static DICOMweb against the files.
  async http(ctx) {
    return httpChecks({ demo: ctx.demo, log });
  },

  async embedded(ctx) {
    return embeddedOn(ctx, 'embedded', OHIF_APP_VERSION);
  },
  // The same flow on the other hosts of the supported range (server/config.js
  // OHIF_APP_VERSIONS), with our server's generated app-config.js unchanged.
  async 'embedded-ohif-3.12'(ctx) {
    return embeddedOn(ctx, 'embedded-ohif-3.12', '3.12.10');
  },
  async 'embedded-ohif-3.14'(ctx) {
    return embeddedOn(ctx, 'embedded-ohif-3.14', '3.14.0-beta.6');
  },
  // The same flow on WebGPU: the browser offers only a software adapter (launched with
  // webgpu: true, see WEBGPU_SCENARIOS), which the engine takes because the config allows it.
  async 'embedded-webgpu'(ctx) {
    const result = await embeddedOn(ctx, 'embedded-webgpu', OHIF_APP_VERSION, { allowSoftwareGpu: true });
    const model = await ctx.page.evaluate(() => window.__clue.getState().model);
    result.checks.push({
      ok: model.backend === 'webgpu',
      what: `the model ran on WebGPU (store: ${model.backend}; skipped: ${JSON.stringify(model.skipped)})`,
    });
    const panelBackend = await ctx.page
      .locator('[data-testid="clue-model-backend"]')
      .textContent({ timeout: 5000 })
      .catch(() => null);
    result.checks.push({
      ok: panelBackend?.trim().startsWith('webgpu') === true,
      what: `the panel shows the WebGPU backend (shows ${JSON.stringify(panelBackend?.trim() ?? null)})`,
    });
    return result;
  },

  // What `npm start` runs: server/start.js as its own process; open the URL it prints. It
  // must land on the demo's T1 axial lesion slice, where one press of the button (no
  // scrolling) gives a detection.
  async start(ctx) {
    requireModel(loadSettings().settings); // the run below needs the demo model
    const child = spawn(process.execPath, [path.join(REPO_ROOT, 'server/start.js'), '--port', '0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    ctx.cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    });
    let output = '';
    const demoUrl = await step(
      'server/start.js prints the demo URL',
      () =>
        new Promise((resolve, reject) => {
          const onData = (chunk) => {
            output += chunk.toString();
            const m = /Demo study in the CLUE mode[^:]*: (\S+)/.exec(output);
            if (m && output.includes('Study list:')) resolve(m[1]);
          };
          child.stdout.on('data', onData);
          child.stderr.on('data', onData);
          exited.then(({ code }) =>
            reject(new Error(`start.js exited (code ${code}) before printing the URL:\n${output}`)),
          );
        }),
    );
    const lesion = ctx.demo.lesionSlice;
    const printed = new URL(demoUrl);
    const timings = { modeEnteredAt: Date.now() };
    const watch = watchPage(ctx.page, printed.origin);
    await step('open the printed URL', () => ctx.page.goto(demoUrl, { timeout: STEP_TIMEOUT_MS }));
    timings.pageLoadMs = await ctx.page.evaluate(() =>
      Math.round(performance.getEntriesByType('navigation')[0].loadEventEnd),
    );
    // The viewport is created once, on the image the hanging protocol chose: the first image
    // displayed is the one the URL opens (the test scrolls nothing).
    const shown = await step('first image displayed in our mode', () =>
      waitForState(ctx.page, displayedImage, null, 's !== null'),
    );
    timings.firstImageMs = Date.now() - timings.modeEnteredAt;
    const shownInstanceNumber = await ctx.page.evaluate(
      (imageId) => Number(window.cornerstone.metaData.get('instance', imageId)?.InstanceNumber),
      shown.imageId,
    );
    const checks = [];
    const expect = (ok, what) => checks.push({ ok, what });
    expect(
      printed.pathname === `/${MODE_ROUTE}` &&
        printed.searchParams.get('StudyInstanceUIDs') === ctx.demo.study.StudyInstanceUID,
      `start.js prints our mode's URL for the demo lesion study (${demoUrl})`,
    );
    expect(
      shown.seriesInstanceUID === ctx.demo.series.SeriesInstanceUID,
      `it opens the T1 axial lesion series (shows ${shown.seriesInstanceUID})`,
    );
    expect(
      shown.sopInstanceUID === lesion.sop_instance_uid && shownInstanceNumber === lesion.instance_number,
      `it opens the lesion slice: instance ${shownInstanceNumber} (${shown.sopInstanceUID}), index.json's lesion.best is instance ${lesion.instance_number}`,
    );

    await step('our panel and button are there', async () => {
      const panel = ctx.page.locator('[data-testid="clue-panel"]');
      if (!(await panel.isVisible())) await ctx.page.locator(`[data-cy="${PANEL_NAME}-btn"]`).first().click();
      await panel.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
      await ctx.page.locator(`[data-cy="${RUN_BUTTON_ID}"]`).waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    });
    const clickedAt = Date.now();
    await step('press our toolbar button on the slice the URL opened', () =>
      ctx.page.locator(`[data-cy="${RUN_BUTTON_ID}"]`).click(),
    );
    const finished = await step('run finished', () =>
      ctx.page
        .waitForFunction(
          () => {
            const state = window.__clue?.getState?.();
            return state && (state.status === 'done' || state.status === 'error') ? state : null;
          },
          null,
          { timeout: STEP_TIMEOUT_MS, polling: 100 },
        )
        .then((h) => h.jsonValue()),
    );
    if (finished.status === 'error') throw new Error(`the run failed in the viewer: ${finished.error}`);
    const labelmap = await step('labelmap on the displayed image', () =>
      waitForState(
        ctx.page,
        labelmapOnDisplayedImage,
        { idPrefix: SEGMENTATION_ID_PREFIX },
        's.found && s.shownInViewport',
      ),
    );
    timings.runMs = Date.now() - clickedAt;
    const voxels = labelmap.counts[ANOMALY_SEGMENT_INDEX] ?? 0;
    const threshold = finished.lastResult.threshold;
    const expectedVoxels = await ctx.page.evaluate(mapExpectedCount, { threshold });
    expect(
      finished.lastResult.imageId === shown.imageId && labelmap.imageId === shown.imageId,
      'the run and its labelmap are on the slice the URL opened',
    );
    expect(
      voxels > 0 && voxels === expectedVoxels,
      `the first run gives a detection: ${voxels} labelmap voxels at threshold ${threshold} (the stored map has ${expectedVoxels} at or above it)`,
    );

    // The slice the URL opens lies inside the demo model's validated domain (when its manifest declares one).
    const slice = finished.lastResult.domain.slice;
    expect(
      slice.modality === 'MR' && slice.bodyPart === 'BRAIN' && slice.sequence === 'T1' && slice.plane === 'axial',
      `the domain check read the slice's DICOM attributes in the real viewer: ${JSON.stringify(slice)}`,
    );
    const outside = finished.lastResult.domain.findings.filter((f) => f.status !== 'inside');
    expect(
      outside.length === 0,
      `the lesion slice is inside the model's declared domain (declared: ${finished.lastResult.domain.declared}${outside.length ? `; ${outside.map((f) => f.message).join(' ')}` : ''})`,
    );
    const panel = await step('panel shows the validated domain and the slice’s acquisition', async () => {
      await ctx.page
        .locator('[data-testid="clue-model-domain"]')
        .waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
      return ctx.page.evaluate(() => ({
        domain: document.querySelector('[data-testid="clue-model-domain"]')?.textContent ?? null,
        acquisition: document.querySelector('[data-testid="clue-result-acquisition"]')?.textContent ?? null,
        caution: document.querySelector('[data-testid="clue-domain-caution"]') !== null,
      }));
    });
    expect(
      finished.model.domain ? panel.domain.startsWith('MR') : panel.domain.startsWith('validated domain not declared'),
      `panel: "Validated on" ${JSON.stringify(panel.domain)}`,
    );
    expect(
      panel.acquisition?.startsWith('MR, BRAIN, T1, axial') && !panel.caution,
      `panel: acquisition ${JSON.stringify(panel.acquisition)}, no caution`,
    );
    const screenshot = path.join(RESULTS_DIR, 'e2e-start.png');
    await ctx.page.screenshot({ path: screenshot });

    checks.push({ ok: watch.foreign.length === 0, what: 'no requests to other origins' });
    checks.push({
      ok: watch.pageErrors.length === 0,
      what: `no uncaught page errors${watch.pageErrors.length ? `: ${watch.pageErrors.slice(0, 3).join(' | ')}` : ''}`,
    });
    child.kill('SIGTERM');
    const exit = await exited;
    checks.push({ ok: exit.code === 0, what: `start.js stops cleanly on SIGTERM (exit ${exit.code ?? exit.signal})` });
    return { checks, timings, screenshot, watch };
  },

  async orthanc(ctx) {
    const base = loadSettings({ overrides: { port: 0 } }).settings;
    checkOrthancInstalled();
    const orthanc = await step('start Orthanc', () => startOrthanc({ log }));
    ctx.cleanups.push(() => orthanc.stop());
    const count = await step('upload the demo files to Orthanc', () =>
      uploadDicomFolder(orthanc.url, base.staticDicomDir),
    );
    log(`  ${count} instances in Orthanc`);
    const { settings } = loadSettings({
      overrides: {
        host: '127.0.0.1',
        port: 0,
        dataSource: 'dicomweb',
        pacsUrl: orthanc.dicomWebUrl,
        pacsWadoUriUrl: orthanc.wadoUriUrl,
      },
    });
    const server = await createClueServer(settings);
    ctx.cleanups.push(() => server.close());
    const { url } = await server.listen();
    // Through the proxy, with the %2C-encoded list OHIF's client sends (Orthanc alone drops it).
    const viaProxy = await (await fetch(`${url}/dicom-web/studies?includefield=00081030%2C00080060`)).json();
    const direct = await (await fetch(`${orthanc.dicomWebUrl}/studies?includefield=00081030%2C00080060`)).json();
    const described = (list) => list.filter((s) => s['00081030']?.Value?.[0]).length;
    const result = await viewerScenario({
      name: 'orthanc',
      page: ctx.page,
      baseUrl: url,
      demo: ctx.demo,
      entry: 'study-list',
      demoDataDir: settings.demoDataDir,
    });
    result.checks.push({
      ok: described(viaProxy) === ctx.demo.index.studies.length,
      what: `proxy: study descriptions come back for an encoded includefield list (${described(viaProxy)} of ${viaProxy.length}; Orthanc directly: ${described(direct)})`,
    });
    return result;
  },

  async deploy(ctx) {
    const { settings } = loadSettings({ overrides: { port: 0 } });
    // The hospital's app-config.js: OHIF's shipped one, with its data source replaced by the
    // static dicomjson source over the demo files (a plain file server has no DICOMweb), and
    // what docs/deploy.md adds: the two entries and our key; the bundles copied to
    // /plugins/clue/, the model to /models/.
    const shipped = await readFile(path.join(settings.viewerDir, 'app-config.js'), 'utf8');
    const configDir = await mkdtemp(path.join(os.tmpdir(), 'clue-deploy-'));
    ctx.cleanups.push(() => rm(configDir, { recursive: true, force: true }));
    const appConfig = `${shipped}
// --- added for this deployment test ---
window.config.dataSources = [{
  namespace: '@ohif/extension-default.dataSourcesModule.dicomjson',
  sourceName: 'dicomjson',
  configuration: { friendlyName: 'demo files', name: 'json' },
}];
window.config.defaultDataSourceName = 'dicomjson';
window.config.customizationService = { 'ohif.tours': { $set: [] } };
window.config.investigationalUseDialog = { option: 'never' };
// docs/deploy.md, route 1, step 3:
window.config.extensions = [...(window.config.extensions || []), '/plugins/clue/clue-extension.js'];
window.config.modes = [...(window.config.modes || []), '/plugins/clue/clue-mode.js'];
window.config.clue = { modelUrl: '/models/demo/manifest.json' };
`;
    await writeFile(path.join(configDir, 'app-config.js'), appConfig);
    const server = await startPlainStaticServer(
      [
        { prefix: '/', dir: configDir },
        { prefix: '/plugins/clue/', dir: settings.bundlesDir },
        { prefix: '/models/', dir: settings.modelsDir },
        { prefix: '/demo-data/', dir: settings.demoDataDir },
        { prefix: '/', dir: settings.viewerDir },
      ],
      { indexFile: path.join(settings.viewerDir, 'index.html') },
    );
    ctx.cleanups.push(() => server.close());
    const entry = `${server.url}/${MODE_ROUTE}?StudyInstanceUIDs=${ctx.demo.study.StudyInstanceUID}&url=${encodeURIComponent(`/demo-data/${ctx.demo.index.dicomjson ?? 'dicomjson/demo.json'}`)}`;
    return viewerScenario({
      name: 'deploy',
      page: ctx.page,
      baseUrl: server.url,
      demo: ctx.demo,
      entry,
      demoDataDir: settings.demoDataDir,
    });
  },

  // The anomaly workflow with a real model (tests/e2e/scenarios/workflow.js).
  ...workflowScenarios({ step, waitForState, watchPage, log, RESULTS_DIR, STEP_TIMEOUT_MS }),
  // Ground-truth comparison, exports, Store to PACS (tests/e2e/scenarios/results.js).
  ...resultsScenarios({ step, waitForState, watchPage, log, STEP_TIMEOUT_MS }),
  // The workflow on an MPR sagittal reformat (tests/e2e/scenarios/mpr.js).
  ...mprScenarios({ step, waitForState, watchPage, log, RESULTS_DIR, STEP_TIMEOUT_MS }),
};

// --- Runner

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Scenarios whose browser offers WebGPU (the others keep --disable-gpu: WASM only).
const WEBGPU_SCENARIOS = new Set(['embedded-webgpu']);

async function runScenario(name, demo) {
  const ctx = { demo, cleanups: [], page: null };
  const started = Date.now();
  log(`scenario ${name}`);
  let browser;
  try {
    const work = (async () => {
      if (name === 'orthanc' || name.startsWith('results-')) checkOrthancInstalled(); // before starting a browser for nothing
      if (name !== 'http') {
        browser = await launchChromium({ webgpu: WEBGPU_SCENARIOS.has(name) });
        ctx.cleanups.push(() => browser.close());
        ctx.page = await browser.context.newPage();
      }
      return SCENARIOS[name](ctx);
    })();
    const result = await withTimeout(work, SCENARIO_TIMEOUT_MS, `scenario ${name}`);
    // A scenario that checked nothing has not passed.
    if (result.checks.length === 0) result.checks.push({ ok: false, what: `scenario ${name} made no checks` });
    const failed = result.checks.filter((c) => !c.ok);
    for (const c of result.checks) log(`  ${c.ok ? 'ok  ' : 'FAIL'} ${c.what}`);
    const t = result.timings;
    if (t)
      log(
        `  timings: page load ${t.pageLoadMs} ms${t.studyListMs ? `, study list shown ${Math.round(t.studyListMs)} ms` : ''}, mode entered → first image ${t.firstImageMs} ms${t.runMs !== undefined ? `, button → labelmap ${t.runMs} ms` : ''}`,
      );
    if (result.screenshot) log(`  screenshot: ${path.relative(REPO_ROOT, result.screenshot)}`);
    if (failed.length && result.watch?.consoleErrors.length)
      log(`  console errors: ${result.watch.consoleErrors.slice(0, 5).join(' | ')}`);
    return failed.length === 0;
  } catch (err) {
    log(`  FAIL ${err.message}`);
    if (ctx.page) {
      const shot = path.join(RESULTS_DIR, `e2e-${name}-failure.png`);
      await ctx.page
        .screenshot({ path: shot, timeout: 10000 })
        .then(() => log(`  screenshot: ${path.relative(REPO_ROOT, shot)}`))
        .catch(() => {});
    }
    return false;
  } finally {
    for (const cleanup of ctx.cleanups.reverse()) await cleanup().catch((err) => log(`  cleanup: ${err.message}`));
    log(`  (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
}

async function main() {
  const wanted = process.argv.slice(2);
  const names = wanted.length ? wanted : Object.keys(SCENARIOS);
  for (const n of names)
    if (!(n in SCENARIOS))
      throw new PrerequisiteError(`unknown scenario "${n}" (known: ${Object.keys(SCENARIOS).join(', ')})`);
  const { settings } = loadSettings();
  checkCommon(settings);
  const demo = demoIndex(settings);
  await mkdir(RESULTS_DIR, { recursive: true });
  let passed = 0;
  let failed = 0;
  for (const name of names) {
    if (await runScenario(name, demo)) passed++;
    else failed++;
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));
const hardLimit = setTimeout(
  () => {
    console.error('[e2e] the whole run exceeded its time limit; giving up');
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
  15 * 60 * 1000,
);
hardLimit.unref();

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(
      `[e2e] ${err instanceof PrerequisiteError || err instanceof BrowserMissingError ? err.message : (err.stack ?? err)}`,
    );
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
