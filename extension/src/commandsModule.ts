// Commands: run on the displayed slice or the whole series, cancel, move the threshold or
// the heatmap opacity, clear. They are the only writers of the store; the panel and the
// toolbar/hotkey only call them.
import { COMMANDS } from './ids';
import { ClueInputError, messageForUser } from './errors';
import { createMapperRegistry, isAbortError, type MapperRegistry, type SliceMapper } from './sliceMapper';
import { createResultsActions, type ResultsActions } from './resultsActions';
import {
  IDLE_SERIES,
  INITIAL_COMPARISON,
  INITIAL_SAVE,
  initialModelState,
  type ClueStore,
  type ModelState,
  type SliceResult,
} from './state';
import { getHostLibraries, type HostLibraries } from './viewer/hostLibraries';
import type { HostDisplaySet, HostExtensionParams, HostStackViewport } from './viewer/hostTypes';
import {
  createHeatmapOverlays,
  imageWorldCorners,
  type HeatmapOverlays,
  type OverlayDrawRecord,
} from './viewer/heatmapOverlay';
import {
  ensureClueLabelmap,
  notifyLabelmapChanged,
  removeClueSegmentations,
  writeMapToLabelmap,
  writeMapToPlane,
} from './viewer/labelmap';
import {
  displayedView,
  getViewportDisplaySet,
  loadImageOrExplain,
  readDisplayedSliceLoaded,
  readImageValues,
  resolveViewportId,
  type DisplayedSlice,
} from './viewer/readSlice';
import { heldByMasks, isPlaneKey, planeWorldCorners, type PlaneSource } from './viewer/volumePlane';
import { checkDomain, outsideFindings } from './workflow/domain';
import { checkNotBlank, constantValue, engineErrorMessage } from './workflow/messages';
import { mapRange, MAX_STORED_MAP_BYTES, ResultCache, type StoredSliceResult } from './workflow/resultCache';

/** A stored map plus what the panel shows about it. */
interface KeptResult extends StoredSliceResult {
  summary: SliceResult;
}

export interface ClueActions extends ResultsActions {
  runOnSlice(options?: { viewportId?: string }): Promise<void>;
  runOnSeries(options?: { viewportId?: string }): Promise<void>;
  cancel(): void;
  setThreshold(options: { threshold: number }): void;
  setOverlayOpacity(options: { opacity: number }): void;
  clear(): void;
  /** Mode exit: clear, remove the overlays and stop the model's worker. */
  dispose(): void;
  /** Read-only views for the inspection hook. */
  inspectOverlay(viewportId?: string): OverlayInspection;
  /** A copy of the raw map stored for `imageId` (any display set), or null. */
  inspectStoredMap(imageId: string): number[] | null;
}

export interface OverlayInspection {
  viewportId: string;
  attached: boolean;
  imageId: string | null;
  /** Map pixels painted at the last repaint (at or above the threshold). */
  paintedPixels: number;
  /** Canvas pixels with non-zero alpha, read back from the overlay canvas itself. */
  canvasOpaquePixels: number;
  opacity: number;
}

/** One slice's pixels, ready for the model: a displayed slice, or a series image read by id. */
type SliceInput = Pick<
  DisplayedSlice,
  'viewportId' | 'displaySet' | 'imageId' | 'plane' | 'rows' | 'columns' | 'values' | 'modalityLut' | 'attributes'
>;

/** Runs `task` when the browser is idle (tests pass their own). */
export type IdleScheduler = (task: () => void) => void;

const defaultScheduler: IdleScheduler = (task) => {
  if (typeof requestIdleCallback === 'function') requestIdleCallback(() => task(), { timeout: 500 });
  else queueMicrotask(task);
};

/** Main-thread time one idle chunk of off-screen re-thresholding may take. */
const CATCH_UP_BUDGET_MS = 8;

export function createClueActions(
  params: HostExtensionParams,
  store: ClueStore,
  registry: MapperRegistry = createMapperRegistry(),
  schedule: IdleScheduler = defaultScheduler,
): ClueActions {
  const services = params.servicesManager.services;
  const results = new ResultCache<KeptResult>();
  const resultsActions = createResultsActions(params, store, (displaySetInstanceUID) => {
    // Only maps whose segmentation the user has not removed; image results only (a
    // reformatted MPR plane's map lies across many source images, which exports and the
    // ground-truth comparison, per source image, do not describe).
    return results
      .list(displaySetInstanceUID)
      .filter((kept) => !kept.plane && services.segmentationService.getSegmentation(kept.summary.segmentationId));
  });
  // Each run or series run is a job; a new one aborts the previous, and a job that is no
  // longer the current one never writes, so two quick runs never both write.
  let job: { id: number; controller: AbortController } | null = null;
  let jobCounter = 0;
  let thresholdTouched = false;
  let overlays: HeatmapOverlays | null = null;
  let stopWatchingViewports: (() => void) | null = null;

  const isCurrent = (id: number) => job?.id === id && !job.controller.signal.aborted;

  function startJob(): { id: number; signal: AbortSignal } {
    job?.controller.abort();
    const controller = new AbortController();
    job = { id: ++jobCounter, controller };
    return { id: job.id, signal: controller.signal };
  }

  function endJob(id: number): void {
    if (job?.id === id) job = null;
  }

  function reportError(error: unknown): void {
    const message = engineErrorMessage(error, store.getState().config.modelUrl) ?? messageForUser(error);
    if (!(error instanceof ClueInputError) && !engineErrorMessage(error, '')) console.error('[clue]', error);
    store.setState({ status: 'error', error: message, message: 'The run did not complete.' });
    services.uiNotificationService?.show({ title: 'CLUE', message, type: 'error', duration: 5000 });
  }

  function setModel(update: Partial<ModelState>): void {
    store.setState((s) => ({ model: { ...s.model, ...update } }));
  }

  /** The model for the configured URL: loaded on the first run, then reused. */
  async function loadMapper(): Promise<SliceMapper> {
    const { modelUrl: url, allowSoftwareGpu } = store.getState().config;
    if (store.getState().model.status !== 'ready' || store.getState().model.url !== url) {
      setModel({ ...initialModelState(url), status: 'loading', phase: 'manifest' });
    }
    try {
      const mapper = await registry.get(
        url,
        (p) => setModel({ phase: p.phase, loadedBytes: p.loadedBytes, totalBytes: p.totalBytes }),
        { allowSoftwareGpu },
      );
      if (store.getState().model.status !== 'ready') {
        const info = mapper.info;
        setModel({
          status: 'ready',
          phase: null,
          modelId: info.modelId,
          modelVersion: info.modelVersion,
          domain: info.manifest.domain ?? null,
          sha256: info.sha256,
          backend: info.backend,
          threads: info.threads,
          skipped: info.skipped.map((s) => ({ backend: s.backend, reason: s.reason })),
          fromCache: info.fromCache,
          networkBytes: info.networkBytes,
          modelBytes: info.modelBytes,
          loadMs: Math.round(info.totalMs),
          cacheProblem: info.cacheProblem,
          error: null,
        });
        // The manifest's threshold is the default until the user moves the slider.
        const manifestThreshold = info.manifest.threshold?.default;
        if (
          !thresholdTouched &&
          typeof manifestThreshold === 'number' &&
          manifestThreshold >= 0 &&
          manifestThreshold <= 1
        ) {
          store.setState({ threshold: manifestThreshold });
        }
      }
      return mapper;
    } catch (error) {
      if (!isAbortError(error)) {
        setModel({ status: 'error', phase: null, error: engineErrorMessage(error, url) ?? messageForUser(error) });
      }
      throw error;
    }
  }

  /** The overlay manager, created on first use (it needs the host's Cornerstone). */
  function getOverlays(libraries: HostLibraries): HeatmapOverlays {
    if (overlays) return overlays;
    const created = createHeatmapOverlays({
      libraries,
      viewFor: (viewport) => {
        const view = displayedView(libraries, viewport);
        if (!view) return null;
        const key = view.kind === 'image' ? view.imageId : view.key;
        const kept = findResult(viewport.id, key);
        if (!kept) return { key, content: null };
        const corners = kept.plane
          ? planeWorldCorners(kept.plane.volume, kept.plane.plane)
          : imageWorldCorners(libraries, kept.imageId, kept.rows, kept.columns);
        return { key, content: { map: kept.map, rows: kept.rows, columns: kept.columns, score: kept.score, corners } };
      },
      settings: () => {
        const s = store.getState();
        return { threshold: s.threshold, opacity: s.overlayOpacity, visible: true };
      },
      onDraw: showDisplayedResult,
    });
    overlays = created;
    // Viewports created later (layout change, new series) get the overlay too.
    const { eventTarget, Enums, getEnabledElement } = libraries.cornerstone;
    const onEnabled = (event: Event) => {
      const element = (event as CustomEvent<{ element?: HTMLElement }>).detail?.element;
      const viewport = element ? getEnabledElement(element)?.viewport : undefined;
      if (viewport) created.attach(viewport);
    };
    eventTarget.addEventListener(Enums.Events.ELEMENT_ENABLED, onEnabled);
    stopWatchingViewports = () => eventTarget.removeEventListener(Enums.Events.ELEMENT_ENABLED, onEnabled);
    return created;
  }

  /** The stored result for an image, or for a plane key (of the viewport's image series). */
  function findResult(viewportId: string, imageId: string): KeptResult | undefined {
    let displaySet: HostDisplaySet;
    try {
      displaySet = getViewportDisplaySet(services, viewportId, isPlaneKey(imageId) ? undefined : imageId);
    } catch {
      return undefined; // a non-image series: nothing of ours to show
    }
    return results.get(displaySet.displaySetInstanceUID, imageId);
  }

  /** After each overlay paint of the active viewport: the panel shows that slice's result. */
  function showDisplayedResult(record: OverlayDrawRecord): void {
    if (record.viewportId !== services.viewportGridService.getActiveViewportId()) return;
    const kept = record.imageId ? findResult(record.viewportId, record.imageId) : undefined;
    if (kept) catchUpDisplayed(kept);
    const summary = kept?.summary ?? null;
    if (store.getState().displayedResult !== summary) store.setState({ displayedResult: summary });
  }

  /** Refuses to keep more maps than MAX_STORED_MAP_BYTES (they stay in memory for the threshold). */
  function checkMemory(rows: number, columns: number, count: number): void {
    if (!results.fits(rows, columns, count)) {
      const mb = (bytes: number) => Math.round(bytes / (1024 * 1024));
      throw new ClueInputError(
        `Keeping ${count} more map(s) of ${rows}×${columns} would exceed the ${mb(MAX_STORED_MAP_BYTES)} MB kept for results (${mb(results.bytes)} MB in use); press Clear first, or run on single slices.`,
      );
    }
  }

  /** Model → labelmap + stored result. Returns null when the job was superseded meanwhile. */
  async function computeSlice(
    input: SliceInput,
    mapper: SliceMapper,
    libraries: HostLibraries,
    jobId: number,
    signal: AbortSignal,
    blank = false,
  ) {
    checkMemory(input.rows, input.columns, 1);
    const { map, score, timings } = blank ? blankResult(input) : await mapper.compute(input, signal);
    if (!isCurrent(jobId)) return null;
    if (!blank) store.setState((s) => ({ modelRuns: s.modelRuns + 1 }));
    const segmentationId = await ensureClueLabelmap(services, libraries, input.viewportId, input.displaySet);
    if (!isCurrent(jobId)) return null;
    const threshold = store.getState().threshold;
    // Repainting the viewport costs the host a full render: only for the slice on screen
    // (a series run notifies the host once at its end for the others).
    const onScreen = displayedKey(libraries, input.viewportId) === input.imageId;
    const written = writeKept(
      libraries,
      {
        segmentationId,
        viewportId: input.viewportId,
        displaySetInstanceUID: input.displaySet.displaySetInstanceUID,
        imageId: input.imageId,
        plane: input.plane,
      },
      map,
      threshold,
      onScreen,
    );
    const range = mapRange(map);
    const summary: SliceResult = {
      segmentationId,
      viewportId: input.viewportId,
      displaySetInstanceUID: input.displaySet.displaySetInstanceUID,
      imageId: input.imageId,
      labelmapImageId: written.labelmapImageId,
      rows: input.rows,
      columns: input.columns,
      mapName: mapper.name,
      threshold,
      voxelCount: written.voxelCount,
      score,
      mapMin: range.min,
      mapMax: range.max,
      modalityLut: input.modalityLut,
      timings,
      durationMs: 0,
      domain: checkDomain(mapper.info.manifest.domain, input.attributes),
      ...(blank ? { blank: true as const } : {}),
    };
    results.set({
      displaySetInstanceUID: summary.displaySetInstanceUID,
      imageId: input.imageId,
      rows: input.rows,
      columns: input.columns,
      map,
      score,
      mapMin: range.min,
      mapMax: range.max,
      modelName: mapper.name,
      timings,
      summary,
      ...(input.plane ? { plane: input.plane } : {}),
    });
    return summary;
  }

  /** A blank slice's result without a model run: nothing to detect (see SliceResult.blank). */
  function blankResult(input: SliceInput) {
    return {
      map: new Float32Array(input.rows * input.columns),
      score: 0,
      timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 },
    };
  }

  /** What a viewport displays, as results are keyed (image id or plane key); null if nothing. */
  function displayedKey(libraries: HostLibraries, viewportId: string): string | null {
    const viewport = services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
    const view = viewport ? displayedView(libraries, viewport) : null;
    return view ? (view.kind === 'image' ? view.imageId : view.key) : null;
  }

  /**
   * Thresholds one map into our labelmap: one image's labelmap, or the voxels under a plane.
   * Voxels that the display set's other stored results flag (at the thresholds they were
   * last written at) stay set, so an image result and a crossing MPR plane compose: our
   * labelmap is the union of the stored results, in whatever order they were written, and
   * no result's voxels (nor its voxel count) are changed by another's write.
   */
  function writeKept(
    libraries: HostLibraries,
    target: {
      segmentationId: string;
      viewportId: string;
      displaySetInstanceUID: string;
      imageId: string;
      plane?: PlaneSource;
    },
    map: Float32Array,
    threshold: number,
    notify: boolean,
  ) {
    const { segmentationId, viewportId, displaySetInstanceUID, imageId, plane } = target;
    const held = heldByMasks(
      results
        .list(displaySetInstanceUID)
        .filter((kept) => kept.imageId !== imageId && (plane || kept.plane)) // an image result crosses only planes
        .map((kept) => ({
          map: kept.map,
          threshold: kept.summary.threshold,
          imageId: kept.imageId,
          plane: kept.plane,
        })),
    );
    return plane
      ? writeMapToPlane(services, libraries, {
          segmentationId,
          viewportId,
          source: plane,
          map,
          threshold,
          notify,
          heldElsewhere: held,
        })
      : writeMapToLabelmap(services, libraries, {
          segmentationId,
          viewportId,
          imageId,
          map,
          threshold,
          notify,
          heldElsewhere: held && ((pixel) => held(imageId, pixel)),
        });
  }

  function attachOverlay(libraries: HostLibraries, viewport: HostStackViewport): void {
    const o = getOverlays(libraries);
    o.attach(viewport);
    o.redrawAll();
  }

  async function runOnSlice(options: { viewportId?: string } = {}): Promise<void> {
    const started = performance.now();
    const { id, signal } = startJob();
    store.setState((s) => ({
      status: 'running',
      error: null,
      message: 'Reading the displayed slice…',
      series: s.series.status === 'running' ? { ...s.series, status: 'cancelled' } : s.series,
    }));
    try {
      const libraries = getHostLibraries(params.extensionManager);
      const viewportId = typeof options.viewportId === 'string' ? options.viewportId : undefined;
      const slice = await readDisplayedSliceLoaded(services, libraries, viewportId);
      if (!isCurrent(id)) return;
      const kept = results.get(slice.displaySet.displaySetInstanceUID, slice.imageId);
      if (kept && services.segmentationService.getSegmentation(kept.summary.segmentationId)) {
        // Stored: shown again at the current threshold, not recomputed.
        catchUpDisplayed(kept);
        attachOverlay(libraries, slice.viewport);
        store.setState({
          status: 'done',
          error: null,
          lastResult: kept.summary,
          displayedResult: kept.summary,
          message: 'This slice was already computed: its stored result is shown (not recomputed).',
        });
        return;
      }
      // A blank slice is refused before the model loads: its score would mean nothing.
      checkNotBlank(slice.values, slice.plane ? `${slice.plane.plane.orientation} plane` : 'slice');
      if (store.getState().model.status !== 'ready') store.setState({ message: 'Loading the model…' });
      const mapper = await loadMapper();
      if (!isCurrent(id)) return;
      store.setState({ message: `Running the model on the displayed slice (${mapper.info.backend})…` });
      const summary = await computeSlice(slice, mapper, libraries, id, signal);
      if (!summary) return;
      attachOverlay(libraries, slice.viewport);
      summary.durationMs = performance.now() - started;
      store.setState({
        status: 'done',
        error: null,
        lastResult: summary,
        displayedResult: summary,
        message: `Map computed${slice.plane ? ` on the ${slice.plane.plane.orientation} reformat (${slice.plane.plane.rows}×${slice.plane.plane.columns})` : ''}: score ${summary.score.toFixed(3)}, ${summary.voxelCount} voxels at threshold ${summary.threshold.toFixed(2)}.${outsideFindings(summary.domain).length ? ' The slice is outside the model’s validated domain: see the caution below.' : ''}`,
      });
    } catch (error) {
      if (isAbortError(error) || !isCurrent(id)) return;
      reportError(error);
    } finally {
      endJob(id);
    }
  }

  async function runOnSeries(options: { viewportId?: string } = {}): Promise<void> {
    const { id, signal } = startJob();
    store.setState({ status: 'running', error: null, message: 'Preparing the series run…' });
    let displaySetInstanceUID: string | null = null;
    // What the series wrote off screen, for one notification to the host at the end.
    let written: { libraries: HostLibraries; segmentationId: string; viewportId: string } | null = null;
    try {
      const libraries = getHostLibraries(params.extensionManager);
      const viewportId = resolveViewportId(
        services,
        typeof options.viewportId === 'string' ? options.viewportId : undefined,
      );
      // The displayed slice first: its checks (stack viewport, image series) apply to all.
      const first = await readDisplayedSliceLoaded(services, libraries, viewportId);
      if (!isCurrent(id)) return;
      const displaySet = first.displaySet;
      displaySetInstanceUID = displaySet.displaySetInstanceUID;
      // On an MPR viewport the series run covers the series' own (acquisition) images, in the
      // volume's order: their labelmaps show in every MPR view.
      const imageIds = first.plane
        ? first.plane.sourceImageIds
        : (first.viewport.getImageIds?.() ?? displaySet.imageIds ?? []);
      const [sliceRows, sliceColumns] = first.plane
        ? [first.plane.volume.dimensions[1], first.plane.volume.dimensions[0]]
        : [first.rows, first.columns];
      // Slices of a series share their size in practice; refuse up front rather than midway.
      checkMemory(
        sliceRows,
        sliceColumns,
        imageIds.filter((id) => !results.has(displaySet.displaySetInstanceUID, id)).length,
      );
      const series = {
        status: 'running' as const,
        displaySetInstanceUID,
        total: imageIds.length,
        done: 0,
        computed: 0,
        blank: 0,
      };
      store.setState({ series: { ...series } });
      const mapper = await loadMapper();
      if (!isCurrent(id)) return;
      attachOverlay(libraries, first.viewport);
      for (const imageId of imageIds) {
        if (!isCurrent(id)) return;
        if (!results.has(displaySetInstanceUID, imageId)) {
          store.setState({ message: `Series: slice ${series.done + 1} of ${series.total} (${mapper.info.backend})…` });
          const what = `image ${series.done + 1} of the series`;
          let image = libraries.cornerstone.cache.getImage(imageId);
          // Not cached: the host's loader fetches it; an image it cannot load is named as such.
          if (!image) image = await loadImageOrExplain(libraries, imageId, what);
          if (!isCurrent(id)) return;
          const pixels = readImageValues(libraries, image, what);
          // Blank (e.g. padding at the ends of a volume): not run, kept as an all-zero map and
          // counted, not a reason to stop (the SEG and Parametric Map need every frame).
          const blank = constantValue(pixels.values) !== null;
          const summary = await computeSlice(
            { viewportId, displaySet, imageId, ...pixels },
            mapper,
            libraries,
            id,
            signal,
            blank,
          );
          if (!summary) return;
          written = { libraries, segmentationId: summary.segmentationId, viewportId };
          if (blank) series.blank++;
          else series.computed++;
          if (imageId === first.viewport.getCurrentImageId()) overlays?.redrawAll();
        }
        series.done++;
        store.setState({ series: { ...series } });
      }
      overlays?.redrawAll();
      const kept = results.get(displaySetInstanceUID, first.viewport.getCurrentImageId() ?? '');
      store.setState({
        status: 'done',
        error: null,
        series: { ...series, status: 'done' },
        ...(kept ? { lastResult: kept.summary, displayedResult: kept.summary } : {}),
        message: `Series done: ${series.total} slices (${series.computed} computed now, ${series.total - series.computed - series.blank} already stored${series.blank ? `; ${series.blank} blank — every pixel the same value — not run: nothing to detect, kept as empty maps` : ''}).`,
      });
    } catch (error) {
      if (isAbortError(error) || !isCurrent(id)) return;
      store.setState((s) => ({ series: { ...s.series, status: 'error' } }));
      reportError(error);
    } finally {
      endJob(id);
      if (written && services.segmentationService.getSegmentation(written.segmentationId)) {
        notifyLabelmapChanged(services, written.libraries, written.segmentationId, [written.viewportId]);
      }
    }
  }

  function cancel(): void {
    if (!job) return;
    job.controller.abort();
    job = null;
    store.setState((s) => ({
      status: 'idle',
      error: null,
      series: s.series.status === 'running' ? { ...s.series, status: 'cancelled' } : s.series,
      message:
        s.series.status === 'running'
          ? `Series run cancelled after ${s.series.done} of ${s.series.total} slices; their results are kept.`
          : 'Run cancelled.',
    }));
  }

  /**
   * Re-thresholds stored maps into their labelmaps (no model run). The slices on screen are
   * done at once; the others follow in idle-time chunks (160 slices of 29k voxels take the
   * host's voxel manager a few hundred ms, too long for a slider), and a slice scrolled to
   * before its turn is done when it is drawn (`catchUpDisplayed`).
   */
  function applyThreshold(threshold: number): void {
    store.setState({ threshold });
    const libraries = results.size ? getHostLibraries(params.extensionManager) : null;
    const onScreen: KeptResult[] = [];
    for (const kept of results.list()) {
      if (!services.segmentationService.getSegmentation(kept.summary.segmentationId)) {
        results.clear(kept.displaySetInstanceUID); // the user removed it: forget its maps
      } else if (libraries && isOnScreen(libraries, kept)) {
        onScreen.push(kept);
      }
    }
    if (libraries) rethreshold(libraries, onScreen, threshold, true);
    overlays?.redrawAll(); // also refreshes displayedResult through onDraw
    scheduleCatchUp();
  }

  function isOnScreen(libraries: HostLibraries, kept: KeptResult): boolean {
    return displayedKey(libraries, kept.summary.viewportId) === kept.imageId;
  }

  /** Writes `list` at `threshold` into the host's labelmaps; notifies the host once per segmentation. */
  function rethreshold(libraries: HostLibraries, list: KeptResult[], threshold: number, notify: boolean): void {
    const touched = new Map<string, Set<string>>();
    const last = store.getState().lastResult;
    let lastResult = last;
    for (const kept of list) {
      if (kept.summary.threshold === threshold) continue;
      const { segmentationId, viewportId } = kept.summary;
      if (!services.segmentationService.getSegmentation(segmentationId)) continue;
      const written = writeKept(
        libraries,
        {
          segmentationId,
          viewportId,
          displaySetInstanceUID: kept.displaySetInstanceUID,
          imageId: kept.imageId,
          plane: kept.plane,
        },
        kept.map,
        threshold,
        false,
      );
      kept.summary = { ...kept.summary, threshold, voxelCount: written.voxelCount };
      if (last && last.segmentationId === segmentationId && last.imageId === kept.imageId) lastResult = kept.summary;
      if (!touched.has(segmentationId)) touched.set(segmentationId, new Set());
      touched.get(segmentationId)!.add(viewportId);
    }
    if (notify)
      for (const [segmentationId, viewportIds] of touched)
        notifyLabelmapChanged(services, libraries, segmentationId, viewportIds);
    if (lastResult !== last) store.setState({ lastResult });
  }

  let catchUpScheduled = false;
  let catchUpTouched = new Set<string>(); // segmentations written off screen, for one final notify

  /** The off-screen slices, a few milliseconds at a time, when the browser is idle. */
  function scheduleCatchUp(): void {
    if (catchUpScheduled) return;
    catchUpScheduled = true;
    schedule(() => {
      catchUpScheduled = false;
      const threshold = store.getState().threshold;
      const stale = results.list().filter((kept) => kept.summary.threshold !== threshold);
      if (stale.length === 0) return;
      const libraries = getHostLibraries(params.extensionManager);
      const started = performance.now();
      let index = 0;
      while (index < stale.length && performance.now() - started < CATCH_UP_BUDGET_MS) {
        const kept = stale[index++]!;
        rethreshold(libraries, [kept], threshold, false);
        catchUpTouched.add(kept.summary.segmentationId);
      }
      if (index < stale.length) {
        scheduleCatchUp();
        return;
      }
      // All stale slices are written: tell the host once, for every segmentation touched.
      // No repaint: these slices are off screen.
      const touched = catchUpTouched;
      catchUpTouched = new Set();
      for (const segmentationId of touched) {
        if (services.segmentationService.getSegmentation(segmentationId)) {
          libraries.cornerstoneTools.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(
            segmentationId,
          );
        }
      }
    });
  }

  /** A slice drawn before the catch-up reached it gets its labelmap now. */
  function catchUpDisplayed(kept: KeptResult): void {
    const threshold = store.getState().threshold;
    if (kept.summary.threshold === threshold) return;
    rethreshold(getHostLibraries(params.extensionManager), [kept], threshold, true);
  }

  function setThreshold(options: { threshold: number }): void {
    const threshold = Number(options?.threshold);
    if (!Number.isFinite(threshold) || threshold < 0 || threshold > 1) {
      reportError(new ClueInputError(`Threshold must be a number in [0, 1], got ${String(options?.threshold)}.`));
      return;
    }
    thresholdTouched = true;
    try {
      applyThreshold(threshold);
      const shown = store.getState().displayedResult ?? store.getState().lastResult;
      if (store.getState().status !== 'running') {
        store.setState({
          status: shown ? 'done' : store.getState().status,
          error: null,
          message: shown
            ? `Threshold ${threshold.toFixed(2)}: ${shown.voxelCount} voxels on the slice (${results.size} stored slice(s) re-thresholded, no model run).`
            : `Threshold ${threshold.toFixed(2)}.`,
        });
      }
    } catch (error) {
      reportError(error);
    }
  }

  function setOverlayOpacity(options: { opacity: number }): void {
    const opacity = Number(options?.opacity);
    if (!Number.isFinite(opacity) || opacity < 0 || opacity > 1) {
      reportError(new ClueInputError(`Opacity must be a number in [0, 1], got ${String(options?.opacity)}.`));
      return;
    }
    store.setState({ overlayOpacity: opacity });
    overlays?.redrawAll();
  }

  function clear(): void {
    job?.controller.abort(); // a run still in flight must not write after the clear
    job = null;
    resultsActions.cancelComparison(); // nor a comparison still in the worker
    results.clear();
    let removed: string[] = [];
    try {
      removed = removeClueSegmentations(services);
    } finally {
      overlays?.redrawAll();
      store.setState({
        status: 'idle',
        error: null,
        lastResult: null,
        displayedResult: null,
        series: { ...IDLE_SERIES },
        comparison: { ...INITIAL_COMPARISON, candidates: [] },
        save: { ...INITIAL_SAVE, stored: [] },
        message: removed.length
          ? `Removed ${removed.length} CLUE segmentation(s) and the heatmap.`
          : 'Nothing to clear.',
      });
    }
  }

  function dispose(): void {
    try {
      clear();
    } finally {
      overlays?.detachAll();
      overlays = null;
      stopWatchingViewports?.();
      stopWatchingViewports = null;
      registry.disposeAll();
      store.setState((s) => ({ model: initialModelState(s.config.modelUrl) }));
    }
  }

  function inspectOverlay(requestedViewportId?: string): OverlayInspection {
    const viewportId = resolveViewportId(services, requestedViewportId);
    const canvas = overlays?.canvasOf(viewportId);
    const draw = overlays?.lastDraw(viewportId);
    let canvasOpaquePixels = 0;
    if (canvas && canvas.width > 0 && canvas.height > 0) {
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) canvasOpaquePixels++;
    }
    return {
      viewportId,
      attached: Boolean(canvas?.isConnected),
      imageId: draw?.imageId ?? null,
      paintedPixels: draw?.paintedPixels ?? 0,
      canvasOpaquePixels,
      opacity: store.getState().overlayOpacity,
    };
  }

  function inspectStoredMap(imageId: string): number[] | null {
    const kept = results.list().find((r) => r.imageId === imageId);
    return kept ? Array.from(kept.map) : null;
  }

  return {
    ...resultsActions,
    inspectStoredMap,
    runOnSlice,
    runOnSeries,
    cancel,
    setThreshold,
    setOverlayOpacity,
    clear,
    dispose,
    inspectOverlay,
  };
}

/** The host's commands-module shape: `{ definitions: { name: { commandFn } } }`. */
export function getCommandsModule(actions: ClueActions) {
  return {
    definitions: {
      [COMMANDS.runOnSlice]: { commandFn: (options: { viewportId?: string }) => actions.runOnSlice(options) },
      [COMMANDS.runOnSeries]: { commandFn: (options: { viewportId?: string }) => actions.runOnSeries(options) },
      [COMMANDS.cancel]: { commandFn: () => actions.cancel() },
      [COMMANDS.setThreshold]: { commandFn: (options: { threshold: number }) => actions.setThreshold(options) },
      [COMMANDS.setOverlayOpacity]: { commandFn: (options: { opacity: number }) => actions.setOverlayOpacity(options) },
      [COMMANDS.clear]: { commandFn: () => actions.clear() },
      [COMMANDS.dispose]: { commandFn: () => actions.dispose() },
      [COMMANDS.listGroundTruths]: { commandFn: () => actions.listGroundTruths() },
      [COMMANDS.compareWithGroundTruth]: {
        commandFn: (options: { segmentationId?: string; segmentIndex?: number | null; viewportId?: string }) =>
          actions.compareWithGroundTruth(options ?? {}),
      },
      [COMMANDS.exportResults]: { commandFn: (options: { format: 'csv' | 'json' }) => actions.exportResults(options) },
      [COMMANDS.downloadSeg]: { commandFn: (options: { viewportId?: string }) => actions.downloadSeg(options) },
      [COMMANDS.downloadParametricMap]: {
        commandFn: (options: { viewportId?: string }) => actions.downloadParametricMap(options),
      },
      [COMMANDS.storeToPacs]: { commandFn: (options: { viewportId?: string }) => actions.storeToPacs(options) },
    },
  };
}
