// The state commands write and the panel reads. Plain data only (no typed arrays, no host
// objects), so the e2e inspection hook can hand it to the test as JSON.
import { DEFAULT_CLUE_CONFIG, type ClueConfig } from './config';
import { createStore, type Store } from './store';

export type RunStatus = 'idle' | 'running' | 'done' | 'error';

export interface ModalityLutInfo {
  slope: number;
  intercept: number;
  /** True when the host's image loader had already applied it to the cached pixels. */
  appliedByLoader: boolean;
}

/** What one run on one slice produced, as written into the host's labelmap. */
export interface SliceResult {
  segmentationId: string;
  viewportId: string;
  displaySetInstanceUID: string;
  imageId: string;
  labelmapImageId: string;
  rows: number;
  columns: number;
  /** Which map produced the result (the placeholder until the model engine is wired in). */
  mapName: string;
  threshold: number;
  /** Voxels of our segment on this slice, counted back from the host's labelmap. */
  voxelCount: number;
  /** Image-level score in [0, 1]. */
  score: number;
  mapMin: number;
  mapMax: number;
  modalityLut: ModalityLutInfo;
  durationMs: number;
}

export interface ClueState {
  status: RunStatus;
  /** One line for the panel: what is happening or what just happened. */
  message: string;
  error: string | null;
  threshold: number;
  lastResult: SliceResult | null;
  config: ClueConfig;
}

export function initialClueState(config: ClueConfig = DEFAULT_CLUE_CONFIG): ClueState {
  return {
    status: 'idle',
    message: 'Ready: press “Run on slice” to compute the map for the displayed slice.',
    error: null,
    threshold: config.defaultThreshold,
    lastResult: null,
    config: { ...config },
  };
}

export type ClueStore = Store<ClueState>;

export function createClueStore(config?: ClueConfig): ClueStore {
  return createStore(initialClueState(config));
}
