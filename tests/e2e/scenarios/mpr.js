// The anomaly workflow on an MPR reformat (issue 5: "on stack viewports and on MPR").
// Scenario, added to tests/e2e/run.js's list:
//   mpr — demo T1 axial lesion series: run on the axial lesion slice (stack) and keep its
//         map; Clear; the MPR toolbar button (the host's 'mpr' protocol) → three volume
//         viewports; the sagittal viewport moved to the column through the ground-truth
//         lesion; run button → our labelmap holds exactly the voxels of that sagittal plane
//         that the stored map reaches at the threshold (counted here, from the host's
//         labelmap images and the volume geometry, not through the extension), spread over
//         many source (axial) images, nowhere else; the map is not the axial slice's; the
//         heatmap canvas is opaque where the labelmap is (placed through the host's
//         worldToCanvas); the threshold slider re-thresholds the plane; scrolling away and
//         back shows the stored plane without a model run; the button again returns to one
//         viewport, where a run reads the displayed source image and its labelmap keeps the
//         plane's voxels on that image besides its own (results compose); no foreign requests
// Needs the same model as the workflow scenario (`<modelsDir>/demo/manifest.json`).
import path from 'node:path';
import { loadSettings } from '../../../server/config.js';
import { displayedImage, labelmapOnDisplayedImage, mapExpectedCount } from '../lib/page-state.js';
import { segMaskForImage } from '../lib/seg-file.js';
import { requireModel, viewerSteps } from '../lib/viewer-steps.js';

const SEGMENTATION_ID_PREFIX = 'clue-anomaly::';
const ANOMALY_SEGMENT_INDEX = 1;
const RUN_BUTTON_ID = 'clueRunOnSlice';
const MPR_BUTTON_ID = 'MPR';
const SAGITTAL_VIEWPORT_ID = 'mpr-sagittal'; // the host's 'mpr' hanging protocol
const LESION_SEGMENT_NUMBER = 1;

// --- Page functions (serialised into the page by Playwright: self-contained).

/** The MPR viewports and whether the volume of `viewportId` is loaded (every source image cached). */
function mprState({ viewportId }) {
  const services = window.services;
  const cs = window.cornerstone;
  const ids = [...services.viewportGridService.getState().viewports.keys()];
  const vp = services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  if (!vp || vp.type !== 'orthographic') return { ids, ready: false };
  const volumeId = vp.getVolumeId?.();
  const volume = volumeId && cs.cache.getVolume(volumeId);
  if (!volume) return { ids, ready: false };
  const cached = volume.imageIds.filter((id) => cs.cache.getImage(id)).length;
  return {
    ids,
    ready: cached === volume.imageIds.length,
    cached,
    total: volume.imageIds.length,
    dimensions: [...volume.dimensions],
  };
}

/**
 * The test's own reading of a volume viewport's plane: the volume axis along the camera's
 * normal, the index of the focal point on it, and for `labelmapOf` our labelmap's voxels of
 * that plane (from the host's labelmap images of each source image).
 */
function planeLabelmap({ viewportId, idPrefix, segmentIndex }) {
  const services = window.services;
  const cs = window.cornerstone;
  const vp = services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  const volume = cs.cache.getVolume(vp.getVolumeId());
  const { viewPlaneNormal, focalPoint } = vp.getCamera();
  const d = volume.direction;
  const axisDir = (a) => [d[a * 3], d[a * 3 + 1], d[a * 3 + 2]];
  const dot = (u, v) => u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
  const cosines = [0, 1, 2].map((a) => Math.abs(dot(viewPlaneNormal, axisDir(a))));
  const axis = cosines.indexOf(Math.max(...cosines));
  const rel = [0, 1, 2].map((c) => focalPoint[c] - volume.origin[c]);
  const index = Math.round(dot(rel, axisDir(axis)) / volume.spacing[axis]);
  const [dx, dy, dz] = volume.dimensions;
  const seg = (services.segmentationService.getSegmentations() ?? []).find((s) =>
    s.segmentationId.startsWith(idPrefix),
  );
  const result = { axis, index, dimensions: [dx, dy, dz], found: Boolean(seg) };
  if (!seg) return result;
  const byReferenced = new Map();
  for (const id of seg.representationData?.Labelmap?.imageIds ?? []) {
    const image = cs.cache.getImage(id);
    if (image) byReferenced.set(image.referencedImageId, image);
  }
  // Every non-zero voxel of our labelmap, and those on the plane (with their world centres).
  let total = 0;
  let inPlane = 0;
  const sources = new Set();
  const worlds = [];
  volume.imageIds.forEach((imageId, k) => {
    const image = byReferenced.get(imageId);
    if (!image) return;
    const data = image.voxelManager.getScalarData();
    for (let p = 0; p < data.length; p++) {
      if (data[p] === 0) continue;
      total++;
      const ijk = [p % dx, Math.floor(p / dx), k];
      if (ijk[axis] !== index || data[p] !== segmentIndex) continue;
      inPlane++;
      sources.add(k);
      const world = [0, 1, 2].map(
        (c) => volume.origin[c] + [0, 1, 2].reduce((sum, a) => sum + ijk[a] * volume.spacing[a] * axisDir(a)[c], 0),
      );
      worlds.push(world);
    }
  });
  const representations =
    services.segmentationService.getSegmentationRepresentations(viewportId, { segmentationId: seg.segmentationId }) ??
    [];
  // Where those voxels land on screen (the host's transform) and whether our heatmap canvas is opaque there.
  const canvas = vp.element.querySelector('canvas[data-testid="clue-heatmap-overlay"]');
  let opaqueUnder = 0;
  if (canvas && worlds.length) {
    const ratio = canvas.width / vp.element.clientWidth;
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (const world of worlds) {
      const [x, y] = vp.worldToCanvas(world);
      const px = Math.floor(x * ratio);
      const py = Math.floor(y * ratio);
      if (px >= 0 && py >= 0 && px < canvas.width && py < canvas.height && pixels[(py * canvas.width + px) * 4 + 3] > 0)
        opaqueUnder++;
    }
  }
  return {
    ...result,
    segmentationId: seg.segmentationId,
    shownInViewport: representations.length > 0,
    total,
    inPlane,
    sourceImages: sources.size,
    opaqueUnder,
    canvasFound: Boolean(canvas),
  };
}

/** Moves a volume viewport's plane to voxel index `index` along `axis` (test set-up through the camera API). */
function moveToIndex({ viewportId, axis, index }) {
  const services = window.services;
  const cs = window.cornerstone;
  const vp = services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  const volume = cs.cache.getVolume(vp.getVolumeId());
  const camera = vp.getCamera();
  const d = volume.direction;
  const dir = [d[axis * 3], d[axis * 3 + 1], d[axis * 3 + 2]];
  const rel = [0, 1, 2].map((c) => camera.focalPoint[c] - volume.origin[c]);
  const current = (rel[0] * dir[0] + rel[1] * dir[1] + rel[2] * dir[2]) / volume.spacing[axis];
  const shift = (index - current) * volume.spacing[axis];
  const move = (p) => p.map((v, c) => v + shift * dir[c]);
  vp.setCamera({ focalPoint: move(camera.focalPoint), position: move(camera.position) });
  vp.render();
  return current;
}

/** Pixels of a stored map (read through the extension's read-only hook) at or above `threshold`, in float32. */
function storedCount({ key, threshold }) {
  const map = window.__clue.storedMap(key);
  if (!map) return null;
  const t = Math.fround(threshold);
  return map.filter((v) => Math.fround(v) >= t).length;
}

/** Needs the runner's helpers (step, waitForState, watchPage, log, RESULTS_DIR, STEP_TIMEOUT_MS). */
export function mprScenarios({ step, waitForState, watchPage, log, RESULTS_DIR, STEP_TIMEOUT_MS }) {
  const { startServer, openLesionSlice, settled } = viewerSteps({ step, waitForState, STEP_TIMEOUT_MS });
  const state = (page) => page.evaluate(() => window.__clue.getState());

  return {
    async mpr(ctx) {
      const { page, demo } = ctx;
      const probe = loadSettings().settings;
      requireModel(probe);
      const { url, settings } = await startServer(ctx);
      const watch = watchPage(page, new URL(url).origin);
      const checks = [];
      const expect = (ok, what) => checks.push({ ok: Boolean(ok), what });
      const timings = {};
      await openLesionSlice(page, url, demo, timings);
      const lesionImageId = (await page.evaluate(displayedImage)).imageId;

      // 1. The axial lesion slice on the stack viewport: its map, to compare with the reformat's.
      await page.locator(`[data-cy="${RUN_BUTTON_ID}"]`).click();
      const axial = await step('run on the axial lesion slice (stack)', () => settled(page));
      if (axial.status === 'error') throw new Error(`the axial run failed: ${axial.error}`);
      const axialMap = await page.evaluate((id) => window.__clue.storedMap(id), lesionImageId);
      expect(
        axialMap && axialMap.length === demo.series.rows * demo.series.columns,
        `axial map stored (${axialMap?.length} values)`,
      );
      await step('clear our results', async () => {
        await page.locator('[data-testid="clue-clear-button"]').click();
        await page.waitForFunction(() => window.__clue.getState().lastResult === null, null, {
          timeout: STEP_TIMEOUT_MS,
          polling: 100,
        });
      });

      // The lesion's centre column on the axial slice, from the ground-truth SEG file.
      const seg = await segMaskForImage(
        path.join(settings.demoDataDir, demo.series.seg.path),
        demo.lesionSlice.sop_instance_uid,
        LESION_SEGMENT_NUMBER,
      );
      let sum = 0;
      let n = 0;
      seg.mask.forEach((v, p) => {
        if (v) {
          sum += p % seg.columns;
          n++;
        }
      });
      if (n === 0) throw new Error('the ground-truth SEG has no lesion pixels on the lesion slice');
      const lesionColumn = Math.round(sum / n);

      // 2. MPR through our toolbar's button (the host's 'mpr' hanging protocol).
      const switchedAt = Date.now();
      await step('press the MPR button', async () => {
        const button = page.locator(`[data-cy="${MPR_BUTTON_ID}"]`);
        await button.waitFor({ state: 'visible', timeout: STEP_TIMEOUT_MS });
        await button.click();
      });
      const mpr = await step('MPR viewports shown, the volume loaded', () =>
        waitForState(page, mprState, { viewportId: SAGITTAL_VIEWPORT_ID }, 's.ready', STEP_TIMEOUT_MS * 2),
      );
      timings.mprLoadMs = Date.now() - switchedAt;
      expect(
        ['mpr-axial', 'mpr-sagittal', 'mpr-coronal'].every((id) => mpr.ids.includes(id)),
        `the host's MPR layout: ${mpr.ids.join(', ')}`,
      );
      log(`  volume ${mpr.dimensions.join('×')} (${mpr.total} images) loaded in ${timings.mprLoadMs} ms`);

      // 3. The sagittal viewport, moved to the plane through the lesion, made active.
      const before = await page.evaluate(planeLabelmap, {
        viewportId: SAGITTAL_VIEWPORT_ID,
        idPrefix: SEGMENTATION_ID_PREFIX,
        segmentIndex: ANOMALY_SEGMENT_INDEX,
      });
      expect(
        before.axis === 0,
        `the sagittal viewport is normal to the volume's i axis (the axial images' columns): axis ${before.axis}`,
      );
      await step(`move the sagittal plane to column ${lesionColumn} and activate it`, async () => {
        await page.evaluate(moveToIndex, { viewportId: SAGITTAL_VIEWPORT_ID, axis: 0, index: lesionColumn });
        await page.evaluate((id) => window.services.viewportGridService.setActiveViewportId(id), SAGITTAL_VIEWPORT_ID);
        await waitForState(
          page,
          planeLabelmap,
          { viewportId: SAGITTAL_VIEWPORT_ID, idPrefix: SEGMENTATION_ID_PREFIX, segmentIndex: ANOMALY_SEGMENT_INDEX },
          `s.index === ${lesionColumn}`,
        );
        await page.waitForFunction(
          (id) => window.services.viewportGridService.getActiveViewportId() === id,
          SAGITTAL_VIEWPORT_ID,
          { timeout: STEP_TIMEOUT_MS },
        );
      });

      // 4. Run on the sagittal reformat.
      const runsBefore = (await state(page)).modelRuns;
      const clickedAt = Date.now();
      await page.locator(`[data-cy="${RUN_BUTTON_ID}"]`).click();
      const sagittal = await step('run on the sagittal reformat', () => settled(page));
      timings.runMs = Date.now() - clickedAt;
      if (sagittal.status === 'error') throw new Error(`the sagittal run failed: ${sagittal.error}`);
      const result = sagittal.lastResult;
      const key = result.imageId;
      expect(
        /^mpr:sagittal:i=/.test(key) && key.endsWith(`=${lesionColumn}`),
        `the result is keyed by the plane: ${key}`,
      );
      expect(sagittal.modelRuns === runsBefore + 1, 'one model run for the plane');
      const [dx, dy, dz] = mpr.dimensions;
      // The sagittal plane (normal to i): one row per source slice (k, superior first), one
      // column per row of the axial images (j) — the volume's grid, not resampled.
      expect(
        result.rows === dz &&
          dz === mpr.total &&
          result.columns === dy &&
          dy === demo.series.rows &&
          dx === demo.series.columns,
        `the reformat is ${result.rows}×${result.columns}: ${dz} slices × the axial images' ${demo.series.rows} rows (volume ${dx}×${dy}×${dz}; axial images ${demo.series.rows}×${demo.series.columns})`,
      );
      const sagittalMap = await page.evaluate((k) => window.__clue.storedMap(k), key);
      const differs =
        !axialMap || sagittalMap.length !== axialMap.length || sagittalMap.some((v, i) => v !== axialMap[i]);
      expect(differs, 'the map is not the axial slice’s map (it is the reformat)');

      const threshold = result.threshold;
      const labelmap = await step('our labelmap on the sagittal plane', () =>
        waitForState(
          page,
          planeLabelmap,
          { viewportId: SAGITTAL_VIEWPORT_ID, idPrefix: SEGMENTATION_ID_PREFIX, segmentIndex: ANOMALY_SEGMENT_INDEX },
          's.found && s.shownInViewport',
        ),
      );
      const expected = await page.evaluate(storedCount, { key, threshold });
      expect(labelmap.inPlane > 0, `labelmap voxels on the plane through the lesion: ${labelmap.inPlane}`);
      expect(
        labelmap.inPlane === expected,
        `plane voxels equal the stored map's pixels at ${threshold}, counted independently (${labelmap.inPlane} vs ${expected})`,
      );
      expect(labelmap.total === labelmap.inPlane, `no labelmap voxels off the plane (${labelmap.total} in all)`);
      expect(labelmap.sourceImages > 1, `the plane's voxels lie in ${labelmap.sourceImages} source (axial) images`);
      expect(
        result.voxelCount === labelmap.inPlane,
        `the extension's reported count matches the host's labelmap (${result.voxelCount})`,
      );
      const overlay = await page.evaluate((id) => window.__clue.inspectOverlay(id), SAGITTAL_VIEWPORT_ID);
      expect(
        overlay.attached && overlay.imageId === key && overlay.paintedPixels === expected,
        `heatmap painted on the sagittal viewport from the plane's map (${overlay.paintedPixels} pixels at the threshold)`,
      );
      expect(
        labelmap.canvasFound && labelmap.opaqueUnder === labelmap.inPlane,
        `heatmap opaque under every labelmap voxel, placed by the host's worldToCanvas (${labelmap.opaqueUnder} of ${labelmap.inPlane})`,
      );

      // 5. The threshold slider re-thresholds the plane (no model run).
      const raised = Math.min(0.99, Math.ceil((threshold + (1 - threshold) / 2) * 100) / 100);
      await step(`raise the threshold to ${raised}`, async () => {
        await page.locator('[data-testid="clue-threshold-slider"]').fill(String(raised));
        await page.waitForFunction((t) => window.__clue.getState().lastResult?.threshold === t, raised, {
          timeout: STEP_TIMEOUT_MS,
          polling: 100,
        });
      });
      const after = await page.evaluate(planeLabelmap, {
        viewportId: SAGITTAL_VIEWPORT_ID,
        idPrefix: SEGMENTATION_ID_PREFIX,
        segmentIndex: ANOMALY_SEGMENT_INDEX,
      });
      const expectedAfter = await page.evaluate(storedCount, { key, threshold: raised });
      expect(
        after.inPlane === expectedAfter && after.total === after.inPlane && after.inPlane <= labelmap.inPlane,
        `after the slider: plane voxels equal the stored map's pixels at ${raised} (${after.inPlane} vs ${expectedAfter}), none elsewhere`,
      );

      // 6. Away and back: the stored plane is shown, not recomputed.
      await step('scroll 5 planes away and back', async () => {
        await page.evaluate(moveToIndex, { viewportId: SAGITTAL_VIEWPORT_ID, axis: 0, index: lesionColumn + 5 });
        await page.evaluate(moveToIndex, { viewportId: SAGITTAL_VIEWPORT_ID, axis: 0, index: lesionColumn });
      });
      const runs = (await state(page)).modelRuns;
      await page.locator(`[data-cy="${RUN_BUTTON_ID}"]`).click();
      const again = await step('run again on the same plane', () => settled(page));
      expect(
        again.modelRuns === runs && /already computed/.test(again.message),
        `the stored plane is shown without a model run (${again.message})`,
      );

      const screenshot = path.join(RESULTS_DIR, 'e2e-mpr.png');
      await page.screenshot({ path: screenshot });

      // 7. The MPR button again: back to our single viewport.
      const back = await step('press the MPR button again', async () => {
        await page.locator(`[data-cy="${MPR_BUTTON_ID}"]`).click();
        return waitForState(
          page,
          () => {
            const ids = [...window.services.viewportGridService.getState().viewports.keys()];
            const vp = window.services.cornerstoneViewportService.getCornerstoneViewport(ids[0]);
            return { ids, type: vp?.type ?? null };
          },
          null,
          's.ids.length === 1 && s.type !== null',
        );
      });
      expect(
        back.ids.length === 1,
        `the MPR button toggles back to one viewport (${back.ids.join(', ')}: ${back.type})`,
      );

      // 8. A run there: the host leaves that viewport a volume viewport on the acquisition
      // plane (type above); CLUE reads it as the displayed source image, as on a stack.
      const shownImage = await page.evaluate(displayedImage);
      // The stored sagittal plane's voxels on this image, from the host's labelmap before the
      // run: all in the plane's column. The image's run must keep them (results compose).
      const planeOnImage = await page.evaluate(labelmapOnDisplayedImage, {
        idPrefix: SEGMENTATION_ID_PREFIX,
        indicesOf: ANOMALY_SEGMENT_INDEX,
      });
      const planeVoxels = planeOnImage.indices ?? [];
      expect(
        planeOnImage.found && planeVoxels.every((p) => p % dx === lesionColumn),
        `before the run, this image's labelmap holds only the sagittal plane's voxels, in column ${lesionColumn} (${planeVoxels.length})`,
      );
      const runsBeforeAxial = (await state(page)).modelRuns;
      await page.locator(`[data-cy="${RUN_BUTTON_ID}"]`).click();
      const restored = await step('run on the restored single viewport', () => settled(page));
      if (restored.status === 'error') throw new Error(`the run after MPR failed: ${restored.error}`);
      const onImage = await page.evaluate(labelmapOnDisplayedImage, {
        idPrefix: SEGMENTATION_ID_PREFIX,
        indicesOf: ANOMALY_SEGMENT_INDEX,
      });
      const expectedOnImage = await page.evaluate(mapExpectedCount, { threshold: restored.lastResult.threshold });
      const imageMap = await page.evaluate((id) => window.__clue.storedMap(id), shownImage.imageId);
      const t = Math.fround(restored.lastResult.threshold);
      // Expected: the image map's pixels at the threshold, plus the plane's voxels kept.
      const union = new Set(planeVoxels);
      (imageMap ?? []).forEach((v, p) => {
        if (Math.fround(v) >= t) union.add(p);
      });
      const held = onImage.indices ?? [];
      expect(
        restored.lastResult.imageId === shownImage.imageId && restored.modelRuns === runsBeforeAxial + 1,
        `the run keys its result by the displayed image (${shownImage.sopInstanceUID}), not a plane`,
      );
      expect(
        onImage.found && imageMap && held.length === union.size && held.every((p) => union.has(p)),
        `its labelmap image holds the map's pixels at the threshold and keeps the plane's (${held.length} voxels: ${expectedOnImage} of the map, ${union.size - expectedOnImage} of the plane only)`,
      );
      expect(
        restored.lastResult.voxelCount === expectedOnImage,
        `the reported count is the image's own (${restored.lastResult.voxelCount} vs ${expectedOnImage})`,
      );
      expect(
        watch.foreign.length === 0,
        `no requests to other origins${watch.foreign.length ? `: ${[...new Set(watch.foreign)].slice(0, 5).join(', ')}` : ''}`,
      );
      expect(
        watch.pageErrors.length === 0,
        `no uncaught page errors${watch.pageErrors.length ? `: ${watch.pageErrors.slice(0, 3).join(' | ')}` : ''}`,
      );
      return { checks, timings, screenshot, watch };
    },
  };
}
