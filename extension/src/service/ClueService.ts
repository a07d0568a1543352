// ClueService: the extension's state and everything that changes it — runs and their
// cancellation, the stored results, the threshold, the overlay's life cycle, the ground-truth
// comparison and saving. Registered with the host's ServicesManager in preRegistration (like
// OHIF's own SegmentationService); the commands call it, the panel subscribes to its events.
import type { ClueConfig } from '../config';
import { ClueInputError, messageForUser } from '../errors';
import type { ModelIdentity } from '../modelIdentity';
import type { ResultsRecord } from '../metrics';
import { ResultCache, type StoredResult } from '../results/resultCache';
import {
  createViewerHost,
  isPlaneKey,
  type ClueHost,
  type HostExtensionParams,
  type LabelmapInspection,
  type OverlayControl,
  type OverlayInspection,
} from '../viewer/host';
import { GroundTruthComparison, type CompareOptions } from './comparison';
import { JobControl } from './jobs';
import { defaultScheduler, LabelmapSync, type IdleScheduler } from './labelmapSync';
import { engineErrorMessage } from './messages';
import { ModelSlot } from './modelSlot';
import { ResultSaver } from './saving';
import { createMapperRegistry, type MapperRegistry } from './sliceMapper';
import { SliceRuns } from './sliceRuns';
import type { StateSource } from './store';
import {
  createClueStore,
  IDLE_SERIES,
  INITIAL_COMPARISON,
  INITIAL_SAVE,
  summarize,
  type ClueState,
  type ClueStore,
  type GroundTruthOption,
} from './state';

export const EVENTS = Object.freeze({
  /** Anything in getState() changed (the panel re-renders from it). */
  STATE_CHANGED: 'event::clue:state_changed',
});

type EventName = (typeof EVENTS)[keyof typeof EVENTS];

export interface ViewportOption {
  viewportId?: string;
}

export class ClueService {
  static readonly EVENTS = EVENTS;
  /** For servicesManager.registerService: `services.clueService`. */
  static readonly REGISTRATION = {
    name: 'clueService',
    altName: 'ClueService',
    create: (params: Pick<HostExtensionParams, 'servicesManager' | 'extensionManager' | 'commandsManager'>) =>
      new ClueService(createViewerHost(params)),
  };
  readonly EVENTS = EVENTS;

  private readonly listeners = new Map<EventName, Set<() => void>>();
  private readonly results = new ResultCache();
  private readonly jobs = new JobControl();
  private readonly model: ModelSlot;
  private readonly labelmaps: LabelmapSync;
  private readonly overlays: OverlayControl;
  private readonly runs: SliceRuns;
  private readonly comparison: GroundTruthComparison;
  private readonly saver: ResultSaver;
  /** Unsubscribes from the host's removal event; null until subscribed (see listenToHost). */
  private stopListening: (() => void) | null = null;
  private thresholdTouched = false;

  constructor(
    private readonly host: ClueHost,
    private readonly state: ClueStore = createClueStore(),
    registry: MapperRegistry = createMapperRegistry(),
    schedule: IdleScheduler = defaultScheduler,
  ) {
    state.subscribe(() => this.broadcast(EVENTS.STATE_CHANGED));
    // The manifest's threshold is the default until the user moves the slider.
    this.model = new ModelSlot(state, registry, (threshold) => {
      if (!this.thresholdTouched) this.changeThreshold(threshold);
    });
    this.labelmaps = new LabelmapSync(
      host,
      this.results,
      () => state.getState().threshold,
      (r) => this.rewritten(r),
      schedule,
    );
    this.overlays = host.createOverlays({
      resultFor: (viewportId, key) => this.stored(viewportId, key) ?? null,
      settings: () => ({
        threshold: state.getState().threshold,
        opacity: state.getState().overlayOpacity,
        visible: true,
      }),
      onDraw: (record) => this.showDisplayedResult(record.viewportId, record.imageId),
    });
    this.runs = new SliceRuns({
      host,
      state,
      results: this.results,
      jobs: this.jobs,
      model: this.model,
      labelmaps: this.labelmaps,
      overlays: this.overlays,
      reportError: (error) => this.reportError(error),
    });
    // Image results only (a reformatted plane's map lies across many source images), and only
    // while their segmentation exists (a backstop to the removal event).
    const imageResults = (uid: string) =>
      this.results.list(uid).filter((kept) => !kept.plane && host.hasSegmentation(kept.segmentationId));
    this.comparison = new GroundTruthComparison(host, state, imageResults, () => this.modelIdentityOrNull());
    this.saver = new ResultSaver(host, state, imageResults, () => this.modelIdentity());
  }

  getState(): ClueState {
    return this.state.getState();
  }

  /** The site's configuration (window.config.clue), read once at preRegistration. */
  configure(config: ClueConfig): void {
    this.state.setState((s) => ({
      config,
      threshold: config.defaultThreshold,
      model: { ...s.model, url: config.modelUrl },
    }));
  }

  /**
   * Called by the host on every mode entry (OHIF calls each service's onModeEnter): the
   * host's libraries are all registered by then, so this is where the host is checked
   * against the tested range.
   */
  onModeEnter(): void {
    // OHIF's SegmentationService drops every subscriber on mode exit (destroy → reset): on each
    // entry we subscribe afresh (the old unsubscribe is harmless on a reset service).
    this.stopListening?.();
    this.stopListening = null;
    this.listenToHost();
    let host;
    try {
      host = this.host.hostCheck();
    } catch (error) {
      host = {
        cornerstoneVersion: null,
        testedAs: null,
        caution: `The viewer's Cornerstone is not reachable: ${messageForUser(error)}`,
      };
    }
    this.state.setState({ host });
  }

  /** The state as the panel reads it: `getState` plus a subscription to STATE_CHANGED. */
  readonly stateSource: StateSource<ClueState> = {
    getState: () => this.getState(),
    subscribe: (listener) => this.subscribe(EVENTS.STATE_CHANGED, listener).unsubscribe,
  };

  /** OHIF's pub/sub shape: `subscribe(EVENTS.X, callback)` → `{ unsubscribe }`. */
  subscribe(eventName: EventName, callback: () => void): { unsubscribe: () => void } {
    if (!this.listeners.has(eventName)) this.listeners.set(eventName, new Set());
    this.listeners.get(eventName)!.add(callback);
    return { unsubscribe: () => void this.listeners.get(eventName)?.delete(callback) };
  }

  runOnSlice(options: ViewportOption = {}): Promise<void> {
    this.listenToHost();
    return this.runs.runOnSlice(viewportOf(options));
  }

  runOnSeries(options: ViewportOption = {}): Promise<void> {
    this.listenToHost();
    return this.runs.runOnSeries(viewportOf(options));
  }

  cancel(): void {
    if (!this.jobs.abort()) return;
    this.state.setState((s) => ({
      status: 'idle',
      error: null,
      series: s.series.status === 'running' ? { ...s.series, status: 'cancelled' } : s.series,
      message:
        s.series.status === 'running'
          ? `Series run cancelled after ${s.series.done} of ${s.series.total} slices; their results are kept.`
          : 'Run cancelled.',
    }));
  }

  setThreshold(options: { threshold: number }): void {
    const threshold = Number(options?.threshold);
    if (!Number.isFinite(threshold) || threshold < 0 || threshold > 1) {
      this.reportError(new ClueInputError(`Threshold must be a number in [0, 1], got ${String(options?.threshold)}.`));
      return;
    }
    this.thresholdTouched = true;
    try {
      this.changeThreshold(threshold);
      const { displayedResult, lastResult, status } = this.state.getState();
      const shown = displayedResult ?? lastResult;
      if (status === 'running') return;
      this.state.setState({
        status: shown ? 'done' : status,
        error: null,
        message: shown
          ? `Threshold ${threshold.toFixed(2)}: ${shown.voxelCount} voxels on the slice (${this.results.size} stored slice(s) re-thresholded, no model run).`
          : `Threshold ${threshold.toFixed(2)}.`,
      });
    } catch (error) {
      this.reportError(error);
    }
  }

  setOverlayOpacity(options: { opacity: number }): void {
    const opacity = Number(options?.opacity);
    if (!Number.isFinite(opacity) || opacity < 0 || opacity > 1) {
      this.reportError(new ClueInputError(`Opacity must be a number in [0, 1], got ${String(options?.opacity)}.`));
      return;
    }
    this.state.setState({ overlayOpacity: opacity });
    this.overlays.redrawAll();
  }

  clear(): void {
    this.jobs.abort(); // a run still in flight must not write after the clear
    this.comparison.cancel(); // nor a comparison still in the worker
    this.results.clear();
    let removed: string[] = [];
    try {
      removed = this.host.removeOurSegmentations();
    } finally {
      this.overlays.redrawAll();
      this.state.setState({
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

  /** Mode exit: clear, remove the overlays and stop the model's worker. */
  dispose(): void {
    try {
      this.clear();
    } finally {
      this.overlays.detachAll();
      this.model.dispose();
    }
  }

  listGroundTruths(): GroundTruthOption[] {
    return this.comparison.listCandidates();
  }

  compareWithGroundTruth(options: CompareOptions = {}): Promise<void> {
    return this.comparison.compare(options);
  }

  /** The record the exports write: the last comparison at the current threshold (null: none yet). */
  resultsRecord(): ResultsRecord | null {
    return this.comparison.record;
  }

  exportResults(options: { format: 'csv' | 'json' }): void {
    this.comparison.exportRecord(options?.format);
  }

  downloadSeg(options: ViewportOption = {}): Promise<void> {
    return this.saver.download('seg', viewportOf(options));
  }

  downloadParametricMap(options: ViewportOption = {}): Promise<void> {
    return this.saver.download('map', viewportOf(options));
  }

  storeToPacs(options: ViewportOption = {}): Promise<void> {
    return this.saver.storeToPacs(viewportOf(options));
  }

  /** Read-only views for the inspection hook. */
  inspectOverlay(viewportId?: string): OverlayInspection {
    return this.overlays.inspect(this.host.resolveViewportId(viewportId), this.state.getState().overlayOpacity);
  }

  /** A copy of the raw map stored for `imageId` (any display set), or null. */
  inspectStoredMap(imageId: string): number[] | null {
    const kept = this.results.list().find((r) => r.imageId === imageId);
    return kept ? Array.from(kept.map) : null;
  }

  inspectDisplayedLabelmap(viewportId?: string): LabelmapInspection {
    return this.host.inspectDisplayedLabelmap(viewportId);
  }

  listSegmentations(): Array<{ segmentationId: string; label: string | null; ours: boolean }> {
    return this.host.listSegmentations();
  }

  /** Stops listening to the host (tests; the host keeps the service for the page's life). */
  destroy(): void {
    this.dispose();
    this.stopListening?.();
    this.stopListening = null;
    this.listeners.clear();
  }

  /**
   * The user (or the host) removed one of our segmentations: its maps go too. Subscribed on
   * mode entry or the first run, not in the constructor: the service is created in our
   * preRegistration, possibly before the extension that registers the host's
   * SegmentationService.
   */
  private listenToHost(): void {
    if (this.stopListening) return;
    this.stopListening = this.host.onSegmentationRemoved((segmentationId) => this.forgetSegmentation(segmentationId));
  }

  /** The one way the threshold changes: stored maps re-thresholded, overlay and comparison follow. */
  private changeThreshold(threshold: number): void {
    const metrics = this.comparison.followThreshold(threshold);
    this.state.setState((s) => ({ threshold, ...(metrics ? { comparison: { ...s.comparison, metrics } } : {}) }));
    if (this.results.size) this.labelmaps.apply(threshold);
    this.overlays.redrawAll(); // also refreshes displayedResult through onDraw
  }

  /** Results rewritten at a new threshold: the panel's summaries of them are refreshed. */
  private rewritten(list: StoredResult[]): void {
    const { lastResult, displayedResult } = this.state.getState();
    const fresh = (shown: ClueState['lastResult']) => {
      const match = shown && list.find((r) => r.segmentationId === shown.segmentationId && r.imageId === shown.imageId);
      return match ? summarize(match) : shown;
    };
    const update = { lastResult: fresh(lastResult), displayedResult: fresh(displayedResult) };
    if (update.lastResult !== lastResult || update.displayedResult !== displayedResult) this.state.setState(update);
  }

  /** The stored result for an image, or for a plane key (of the viewport's image series). */
  private stored(viewportId: string, key: string): StoredResult | undefined {
    let displaySetInstanceUID: string;
    try {
      displaySetInstanceUID = this.host.displaySetOf(
        viewportId,
        isPlaneKey(key) ? undefined : key,
      ).displaySetInstanceUID;
    } catch {
      return undefined; // a non-image series: nothing of ours to show
    }
    return this.results.get(displaySetInstanceUID, key);
  }

  /** After each overlay paint of the active viewport: the panel shows that slice's result. */
  private showDisplayedResult(viewportId: string, key: string | null): void {
    if (viewportId !== this.host.activeViewportId()) return;
    let kept = key ? this.stored(viewportId, key) : undefined;
    if (kept) {
      this.labelmaps.catchUpDisplayed(kept);
      // Re-read: a catch-up replaces the stored entry (same key, no host lookup needed).
      kept = this.results.get(kept.displaySetInstanceUID, kept.imageId);
    }
    const summary = kept ? summarize(kept) : null;
    if (this.state.getState().displayedResult !== summary) this.state.setState({ displayedResult: summary });
  }

  private forgetSegmentation(segmentationId: string): void {
    for (const kept of this.results.list()) {
      if (kept.segmentationId === segmentationId) this.results.clear(kept.displaySetInstanceUID);
    }
  }

  private modelIdentity(): ModelIdentity {
    const { model } = this.state.getState();
    if (!model.modelId || !model.modelVersion || !model.sha256)
      throw new ClueInputError('The model is not loaded: run it once first.');
    return { id: model.modelId, version: model.modelVersion, sha256: model.sha256 };
  }

  private modelIdentityOrNull(): ModelIdentity | null {
    try {
      return this.modelIdentity();
    } catch {
      return null;
    }
  }

  private reportError(error: unknown): void {
    const message = engineErrorMessage(error, this.state.getState().config.modelUrl) ?? messageForUser(error);
    if (!(error instanceof ClueInputError) && !engineErrorMessage(error, '')) console.error('[clue]', error);
    this.state.setState({ status: 'error', error: message, message: 'The run did not complete.' });
    this.host.notifyUser(message, 'error');
  }

  private broadcast(eventName: EventName): void {
    // Copy first: a listener may unsubscribe itself while we iterate.
    for (const callback of [...(this.listeners.get(eventName) ?? [])]) callback();
  }
}

const viewportOf = (options: ViewportOption | undefined) =>
  typeof options?.viewportId === 'string' ? options.viewportId : undefined;

/** A service over the host's params (tests pass their own store, model registry and idle scheduler). */
export function createClueService(
  params: Pick<HostExtensionParams, 'servicesManager' | 'extensionManager' | 'commandsManager'>,
  state?: ClueStore,
  registry?: MapperRegistry,
  schedule?: IdleScheduler,
): ClueService {
  return new ClueService(createViewerHost(params), state, registry, schedule);
}
