// Steps the browser scenarios share: start our server on a free port, open our mode on the
// demo lesion slice, and wait until the extension has finished a run. Built from the
// runner's own `step` / `waitForState` so every step is logged and bounded the same way.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadSettings } from '../../../server/config.js';
import { createClueServer } from '../../../server/server.js';
import { displayedImage, jumpToSop } from './page-state.js';

const PANEL_NAME = 'cluePanel';

/** The model the scenarios run: `<modelsDir>/demo/manifest.json` (settings; CLUE_MODELS_DIR overrides). */
export function modelManifestPath(settings) {
  return path.join(settings.modelsDir, 'demo', 'manifest.json');
}

/** Fails fast, with the fix in the message, when there is no model to run. */
export function requireModel(settings) {
  const manifest = modelManifestPath(settings);
  if (!existsSync(manifest)) {
    throw new Error(`${manifest}: no model — export one (see tests/e2e/scenarios/workflow.js) or set CLUE_MODELS_DIR`);
  }
  return manifest;
}

export function viewerSteps({ step, waitForState, STEP_TIMEOUT_MS }) {
  /** Our server (static DICOMweb by default) on 127.0.0.1 and a free port, closed by ctx.cleanups. */
  async function startServer(ctx, overrides = {}) {
    const { settings } = loadSettings({
      overrides: { host: '127.0.0.1', port: 0, dataSource: 'static', ...overrides },
    });
    const server = await createClueServer(settings);
    ctx.cleanups.push(() => server.close());
    const { url } = await server.listen();
    return { url, settings };
  }

  /**
   * Our mode on `study`, `series` displayed at the image `sopInstanceUID` (index.json
   * entries of the demo data), our panel open.
   */
  async function openSlice(page, url, { study, series, sopInstanceUID, what }, timings = {}) {
    const entered = Date.now();
    await step(`open our mode on the demo ${what} study`, () =>
      page.goto(`${url}/clue?StudyInstanceUIDs=${study.StudyInstanceUID}`, { timeout: STEP_TIMEOUT_MS }),
    );
    timings.pageLoadMs = await page.evaluate(() =>
      Math.round(performance.getEntriesByType('navigation')[0].loadEventEnd),
    );
    const shown = await step('first image displayed', () => waitForState(page, displayedImage, null, 's !== null'));
    timings.firstImageMs = Date.now() - entered;
    if (shown.seriesInstanceUID !== series.SeriesInstanceUID) {
      await step(`load "${series.SeriesDescription}"`, async () => {
        const thumbnail = page.locator(`[data-cy="study-browser-thumbnail"][data-series="${series.SeriesNumber}"]`);
        await thumbnail.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
        await thumbnail.dblclick();
        await waitForState(
          page,
          displayedImage,
          null,
          `s !== null && s.seriesInstanceUID === ${JSON.stringify(series.SeriesInstanceUID)}`,
        );
      });
    }
    await step(`scroll to the ${what} slice`, async () => {
      if (!(await page.evaluate(jumpToSop, sopInstanceUID)))
        throw new Error(`${what} slice not in the displayed series`);
      await waitForState(
        page,
        displayedImage,
        null,
        `s !== null && s.sopInstanceUID === ${JSON.stringify(sopInstanceUID)}`,
      );
    });
    await step('our panel is open', async () => {
      const panel = page.locator('[data-testid="clue-panel"]');
      if (!(await panel.isVisible())) await page.locator(`[data-cy="${PANEL_NAME}-btn"]`).first().click();
      await panel.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
    });
  }

  /** Our mode on the demo lesion study, the lesion series displayed at the lesion slice. */
  function openLesionSlice(page, url, demo, timings = {}) {
    return openSlice(
      page,
      url,
      { study: demo.study, series: demo.series, sopInstanceUID: demo.lesionSlice.sop_instance_uid, what: 'lesion' },
      timings,
    );
  }

  /** Waits until the extension is no longer running; returns its state. */
  function settled(page, timeout = STEP_TIMEOUT_MS) {
    return page
      .waitForFunction(
        () => {
          const s = window.__clue?.getState?.();
          return s && s.status !== 'running' ? s : null;
        },
        null,
        { timeout, polling: 100 },
      )
      .then((h) => h.jsonValue());
  }

  return { startServer, openSlice, openLesionSlice, settled };
}
