// Runs the model on the displayed slice or on the whole series: read the pixels (through the
// host adapter), map them (engine), keep the result, write our labelmap, repaint the overlay.
// The panel learns of progress and results through the state.
import { checkDomain, outsideFindings } from '../domain/domain';
import { ClueInputError } from '../errors';
import { mapRange, MAX_STORED_MAP_BYTES, type ResultCache, type StoredResult } from '../results/resultCache';
import type { ClueHost, DisplayedSlice, OverlayControl, SliceToMap } from '../viewer/host';
import type { Job, JobControl } from './jobs';
import type { LabelmapSync } from './labelmapSync';
import { checkNotBlank, constantValue } from './messages';
import type { ModelSlot } from './modelSlot';
import { isAbortError, type SliceMapper } from './sliceMapper';
import { IDLE_SERIES, summarize, type ClueStore, type SeriesRunState } from './state';

/** What the runs share with the rest of the service. */
export interface RunParts {
  host: ClueHost;
  state: ClueStore;
  results: ResultCache;
  jobs: JobControl;
  model: ModelSlot;
  labelmaps: LabelmapSync;
  overlays: OverlayControl;
  reportError(error: unknown): void;
}

export class SliceRuns {
  constructor(private readonly parts: RunParts) {}

  async runOnSlice(viewportId?: string): Promise<void> {
    const { host, state, jobs, results } = this.parts;
    const started = performance.now();
    const job = jobs.start();
    state.setState((s) => ({
      status: 'running',
      error: null,
      message: 'Reading the displayed slice…',
      series: s.series.status === 'running' ? { ...s.series, status: 'cancelled' } : s.series,
    }));
    try {
      const slice = await host.readDisplayedSlice(viewportId);
      if (!jobs.isCurrent(job)) return;
      const kept = results.get(slice.displaySetInstanceUID, slice.imageId);
      // Stored, and its labelmap still there: shown again, not recomputed.
      if (kept && host.hasSegmentation(kept.segmentationId)) return this.showStored(kept, slice.viewportId);
      // A blank slice is refused before the model loads: its score would mean nothing.
      checkNotBlank(slice.values, slice.plane ? `${slice.plane.plane.orientation} plane` : 'slice');
      if (state.getState().model.status !== 'ready') state.setState({ message: 'Loading the model…' });
      const mapper = await this.parts.model.load();
      if (!jobs.isCurrent(job)) return;
      state.setState({ message: `Running the model on the displayed slice (${mapper.info.backend})…` });
      const stored = await this.computeSlice(slice, mapper, job);
      if (!stored) return;
      const timed = { ...stored, durationMs: performance.now() - started };
      results.set(timed);
      this.parts.overlays.attach(slice.viewportId);
      const summary = summarize(timed);
      state.setState({
        status: 'done',
        error: null,
        lastResult: summary,
        displayedResult: summary,
        message: computedMessage(slice, timed),
      });
    } catch (error) {
      if (isAbortError(error) || !jobs.isCurrent(job)) return;
      this.parts.reportError(error);
    } finally {
      jobs.end(job);
    }
  }

  async runOnSeries(viewportId?: string): Promise<void> {
    const { host, state, jobs } = this.parts;
    const job = jobs.start();
    state.setState({ status: 'running', error: null, message: 'Preparing the series run…' });
    // What the series wrote off screen, for one notification to the host at the end.
    let written: { segmentationId: string; viewportId: string } | null = null;
    try {
      // The displayed slice first: its checks (stack viewport, image series) apply to all.
      const first = await host.readDisplayedSlice(viewportId);
      if (!jobs.isCurrent(job)) return;
      this.checkSeriesMemory(first);
      const series: SeriesRunState = {
        ...IDLE_SERIES,
        status: 'running',
        displaySetInstanceUID: first.displaySetInstanceUID,
        total: first.seriesImageIds.length,
      };
      state.setState({ series: { ...series } });
      const mapper = await this.parts.model.load();
      if (!jobs.isCurrent(job)) return;
      this.parts.overlays.attach(first.viewportId);
      for (const imageId of first.seriesImageIds) {
        const stored = await this.seriesSlice(first, imageId, series, mapper, job);
        if (stored === null) return; // superseded
        if (stored) written = { segmentationId: stored.segmentationId, viewportId: first.viewportId };
        series.done++;
        state.setState({ series: { ...series } });
      }
      this.finishSeries(first, series);
    } catch (error) {
      if (isAbortError(error) || !jobs.isCurrent(job)) return;
      state.setState((s) => ({ series: { ...s.series, status: 'error' } }));
      this.parts.reportError(error);
    } finally {
      jobs.end(job);
      if (written && host.hasSegmentation(written.segmentationId)) {
        host.labelmapChanged(written.segmentationId, [written.viewportId]);
      }
    }
  }

  /**
   * One image of a series run: computed and stored, or skipped when already stored
   * (undefined). Null when the job was superseded meanwhile.
   */
  private async seriesSlice(
    first: DisplayedSlice,
    imageId: string,
    series: SeriesRunState,
    mapper: SliceMapper,
    job: Job,
  ): Promise<StoredResult | null | undefined> {
    const { host, state, jobs, results } = this.parts;
    if (!jobs.isCurrent(job)) return null;
    if (results.has(first.displaySetInstanceUID, imageId)) return undefined;
    state.setState({ message: `Series: slice ${series.done + 1} of ${series.total} (${mapper.info.backend})…` });
    const pixels = await host.readImage(imageId, `image ${series.done + 1} of the series`);
    if (!jobs.isCurrent(job)) return null;
    // Blank (e.g. padding at the ends of a volume): not run, kept as an all-zero map and
    // counted, not a reason to stop (the SEG and Parametric Map need every frame).
    const blank = constantValue(pixels.values) !== null;
    const slice: SliceToMap = {
      viewportId: first.viewportId,
      displaySetInstanceUID: first.displaySetInstanceUID,
      imageId,
      ...pixels,
    };
    const stored = await this.computeSlice(slice, mapper, job, blank);
    if (!stored) return null;
    results.set(stored);
    if (blank) series.blank++;
    else series.computed++;
    if (imageId === host.displayedKey(first.viewportId)) this.parts.overlays.redrawAll();
    return stored;
  }

  private finishSeries(first: DisplayedSlice, series: SeriesRunState): void {
    const { host, state, results } = this.parts;
    this.parts.overlays.redrawAll();
    const kept = results.get(first.displaySetInstanceUID, host.displayedKey(first.viewportId) ?? '');
    const stored = series.total - series.computed - series.blank;
    const blank = series.blank
      ? `; ${series.blank} blank — every pixel the same value — not run: nothing to detect, kept as empty maps`
      : '';
    state.setState({
      status: 'done',
      error: null,
      series: { ...series, status: 'done' },
      ...(kept ? { lastResult: summarize(kept), displayedResult: summarize(kept) } : {}),
      message: `Series done: ${series.total} slices (${series.computed} computed now, ${stored} already stored${blank}).`,
    });
  }

  /** A stored slice is shown again at the current threshold, not recomputed. */
  private showStored(kept: StoredResult, viewportId: string): void {
    this.parts.labelmaps.catchUpDisplayed(kept);
    this.parts.overlays.attach(viewportId);
    const current = this.parts.results.get(kept.displaySetInstanceUID, kept.imageId) ?? kept;
    this.parts.state.setState({
      status: 'done',
      error: null,
      lastResult: summarize(current),
      displayedResult: summarize(current),
      message: 'This slice was already computed: its stored result is shown (not recomputed).',
    });
  }

  /** Model → labelmap → the result to keep. Null when the job was superseded meanwhile. */
  private async computeSlice(
    slice: SliceToMap,
    mapper: SliceMapper,
    job: Job,
    blank = false,
  ): Promise<StoredResult | null> {
    const { host, state, jobs } = this.parts;
    this.checkMemory(slice.rows, slice.columns, 1);
    const { map, score, timings } = blank ? blankResult(slice) : await mapper.compute(slice, job.signal);
    if (!jobs.isCurrent(job)) return null;
    if (!blank) state.setState((s) => ({ modelRuns: s.modelRuns + 1 }));
    const segmentationId = await host.ensureLabelmap(slice.viewportId, slice.displaySetInstanceUID);
    if (!jobs.isCurrent(job)) return null;
    const threshold = state.getState().threshold;
    // Repainting the viewport costs the host a full render: only for the slice on screen
    // (a series run notifies the host once at its end for the others).
    const onScreen = host.displayedKey(slice.viewportId) === slice.imageId;
    const target = { ...slice, segmentationId };
    const written = this.parts.labelmaps.write(target, map, threshold, onScreen);
    const range = mapRange(map);
    return {
      displaySetInstanceUID: slice.displaySetInstanceUID,
      imageId: slice.imageId,
      ...(slice.plane ? { plane: slice.plane } : {}),
      rows: slice.rows,
      columns: slice.columns,
      map,
      score,
      mapMin: range.min,
      mapMax: range.max,
      mapName: mapper.name,
      timings,
      modalityLut: slice.modalityLut,
      domain: checkDomain(mapper.info.manifest.domain, slice.attributes),
      segmentationId,
      viewportId: slice.viewportId,
      labelmapImageId: written.labelmapImageId,
      threshold,
      voxelCount: written.voxelCount,
      durationMs: 0,
      ...(blank ? { blank: true as const } : {}),
    };
  }

  /** Slices of a series share their size in practice; refuse up front rather than midway. */
  private checkSeriesMemory(first: DisplayedSlice): void {
    const [rows, columns] = first.plane
      ? [first.plane.volume.dimensions[1], first.plane.volume.dimensions[0]]
      : [first.rows, first.columns];
    const missing = first.seriesImageIds.filter((id) => !this.parts.results.has(first.displaySetInstanceUID, id));
    this.checkMemory(rows, columns, missing.length);
  }

  /** Refuses to keep more maps than MAX_STORED_MAP_BYTES (they stay in memory for the threshold). */
  private checkMemory(rows: number, columns: number, count: number): void {
    const { results } = this.parts;
    if (!results.fits(rows, columns, count)) {
      const mb = (bytes: number) => Math.round(bytes / (1024 * 1024));
      throw new ClueInputError(
        `Keeping ${count} more map(s) of ${rows}×${columns} would exceed the ${mb(MAX_STORED_MAP_BYTES)} MB kept for results (${mb(results.bytes)} MB in use); press Clear first, or run on single slices.`,
      );
    }
  }
}

/** A blank slice's result without a model run: nothing to detect (see StoredResult.blank). */
function blankResult(slice: SliceToMap) {
  return {
    map: new Float32Array(slice.rows * slice.columns),
    score: 0,
    timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 },
  };
}

function computedMessage(slice: SliceToMap, stored: StoredResult): string {
  const reformat = slice.plane
    ? ` on the ${slice.plane.plane.orientation} reformat (${slice.plane.plane.rows}×${slice.plane.plane.columns})`
    : '';
  const caution = outsideFindings(stored.domain).length
    ? ' The slice is outside the model’s validated domain: see the caution below.'
    : '';
  return `Map computed${reformat}: score ${stored.score.toFixed(3)}, ${stored.voxelCount} voxels at threshold ${stored.threshold.toFixed(2)}.${caution}`;
}
