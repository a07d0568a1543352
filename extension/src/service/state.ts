// The state ClueService writes and the panel reads. Plain data only (no typed arrays, no host
// objects), so the e2e inspection hook can hand it to the test as JSON.
import { DEFAULT_CLUE_CONFIG, type ClueConfig } from '../config';
import type { ModelDomain } from '../engine/manifest';
import type { RunningVariant } from '../engine/openSession';
import type { GroundTruthMetrics } from '../metrics';
import type { StoredResult } from '../results/resultCache';
import type { GroundTruthCandidate, HostCheck } from '../viewer/host';
import { createStore, type Store } from './store';

export type RunStatus = 'idle' | 'running' | 'done' | 'error';

/**
 * What the panel shows of one stored result: everything but the map and the plane geometry
 * (plain data, so the inspection hook can hand it to a test as JSON). Derived from the stored
 * result by `summarize`, never written separately.
 */
export type ResultSummary = Omit<StoredResult, 'map' | 'plane'>;

const summaries = new WeakMap<StoredResult, ResultSummary>();

/** The summary of a stored result: one object per stored version (results are replaced, not mutated). */
export function summarize(stored: StoredResult): ResultSummary {
  let summary = summaries.get(stored);
  if (!summary) {
    const { map, plane, ...rest } = stored;
    summary = rest;
    summaries.set(stored, summary);
  }
  return summary;
}

export interface SkippedBackendInfo {
  backend: string;
  reason: string;
}

/** The model behind the map: loaded once per URL, on the first run. */
export interface ModelState {
  status: 'not-loaded' | 'loading' | 'ready' | 'error';
  url: string;
  /** Loading: which step (manifest, download, cache, verify, session). */
  phase: string | null;
  loadedBytes: number;
  totalBytes: number;
  modelId: string | null;
  modelVersion: string | null;
  /** The manifest's validated domain; null when it declares none. */
  domain: ModelDomain | null;
  /** sha256 of the model file that runs (recorded in exports and DICOM objects). */
  sha256: string | null;
  /** Which of the manifest's files runs (float32, float16, int8) and why. */
  variant: RunningVariant | null;
  backend: string | null;
  threads: number | null;
  skipped: SkippedBackendInfo[];
  fromCache: boolean | null;
  networkBytes: number | null;
  modelBytes: number | null;
  loadMs: number | null;
  cacheProblem: string | null;
  error: string | null;
}

export interface SeriesRunState {
  status: 'idle' | 'running' | 'done' | 'cancelled' | 'error';
  displaySetInstanceUID: string | null;
  total: number;
  /** Slices finished (computed now or already stored). */
  done: number;
  /** Of those, computed by the model in this run. */
  computed: number;
  /** Of those, not run because every pixel has one value (blank): kept as all-zero maps. */
  blank: number;
}

/** A host segmentation that can serve as ground truth (as the host adapter lists it). */
export type GroundTruthOption = GroundTruthCandidate;

/** The ground-truth comparison (panel section "Compare with ground truth"). */
export interface ComparisonState {
  status: 'idle' | 'computing' | 'done' | 'error';
  /** The host's segmentations that are not ours, as last listed. */
  candidates: GroundTruthOption[];
  message: string | null;
  error: string | null;
  /** What the shown metrics were computed from (null until a comparison is done). */
  segmentationId: string | null;
  /** Segment compared; null = any non-zero voxel. */
  segmentIndex: number | null;
  groundTruthLabel: string | null;
  displaySetInstanceUID: string | null;
  /** imageIds of metrics.slices, same order. */
  sliceImageIds: string[];
  /** Slices on which the ground truth has a labelmap image. */
  coveredSlices: number;
  metrics: GroundTruthMetrics | null;
  /** Main-thread ms: reading the ground truth, plus the metrics when not in the worker. */
  computeMs: number | null;
  ranInWorker: boolean;
}

/** Downloads of the results as DICOM and STOW-RS to the data source. */
export interface SaveState {
  status: 'idle' | 'working' | 'done' | 'error';
  message: string | null;
  error: string | null;
  /** Instances the PACS confirmed stored by the last store (SOP Instance UIDs). */
  stored: Array<{ sopInstanceUID: string; sopClassUID: string; seriesInstanceUID: string }>;
}

export const INITIAL_COMPARISON: ComparisonState = Object.freeze({
  status: 'idle',
  candidates: [],
  message: null,
  error: null,
  segmentationId: null,
  segmentIndex: null,
  groundTruthLabel: null,
  displaySetInstanceUID: null,
  sliceImageIds: [],
  coveredSlices: 0,
  metrics: null,
  computeMs: null,
  ranInWorker: false,
}) as ComparisonState;

export const INITIAL_SAVE: SaveState = Object.freeze({
  status: 'idle',
  message: null,
  error: null,
  stored: [],
}) as SaveState;

export interface ClueState {
  status: RunStatus;
  /** One line for the panel: what is happening or what just happened. */
  message: string;
  error: string | null;
  threshold: number;
  /** Heatmap opacity in [0, 1]. */
  overlayOpacity: number;
  /** The result of the latest completed run. */
  lastResult: ResultSummary | null;
  /** The stored result of the slice the active viewport displays (null: none stored). */
  displayedResult: ResultSummary | null;
  model: ModelState;
  series: SeriesRunState;
  /** Slices the model has computed since the page loaded (stored results are not counted). */
  modelRuns: number;
  comparison: ComparisonState;
  save: SaveState;
  config: ClueConfig;
  /** The host against the tested range (null until the mode is entered). */
  host: HostCheck | null;
}

export const DEFAULT_OVERLAY_OPACITY = 0.6;

export function initialModelState(url: string): ModelState {
  return {
    status: 'not-loaded',
    url,
    phase: null,
    loadedBytes: 0,
    totalBytes: 0,
    modelId: null,
    modelVersion: null,
    domain: null,
    sha256: null,
    variant: null,
    backend: null,
    threads: null,
    skipped: [],
    fromCache: null,
    networkBytes: null,
    modelBytes: null,
    loadMs: null,
    cacheProblem: null,
    error: null,
  };
}

export const IDLE_SERIES: SeriesRunState = Object.freeze({
  status: 'idle',
  displaySetInstanceUID: null,
  total: 0,
  done: 0,
  computed: 0,
  blank: 0,
}) as SeriesRunState;

export function initialClueState(config: ClueConfig = DEFAULT_CLUE_CONFIG): ClueState {
  return {
    status: 'idle',
    message: 'Ready: press “Run on slice” to compute the map for the displayed slice.',
    error: null,
    threshold: config.defaultThreshold,
    overlayOpacity: DEFAULT_OVERLAY_OPACITY,
    lastResult: null,
    displayedResult: null,
    model: initialModelState(config.modelUrl),
    series: { ...IDLE_SERIES },
    modelRuns: 0,
    comparison: { ...INITIAL_COMPARISON, candidates: [] },
    save: { ...INITIAL_SAVE, stored: [] },
    config: { ...config },
    host: null,
  };
}

export type ClueStore = Store<ClueState>;

export function createClueStore(config?: ClueConfig): ClueStore {
  return createStore(initialClueState(config));
}
