// Runs the expensive, threshold-free part of the ground-truth comparison (sorts, AUROC, best
// Dice, curves): one slice on the main thread (a few ms), several in a worker so the viewer
// stays responsive. Where workers are unavailable (Node tests) or the worker cannot start, it
// computes in place and says so. The caller derives Dice / IoU at the current threshold from
// the result (metricsAtThreshold), again whenever the threshold moves.
import { MetricsError, prepareComparison, type PreparedComparison, type SliceInput } from '../metrics';
import type { MetricsReply } from './metricsWorker';

export const METRICS_WORKER_FILE = 'clue-metrics-worker.js';

export interface ComparisonRun {
  prepared: PreparedComparison;
  ranInWorker: boolean;
  /** Main-thread milliseconds spent (in-place runs: all of it). */
  mainThreadMs: number;
}

function inPlace(slices: SliceInput[]): ComparisonRun {
  const started = performance.now();
  const prepared = prepareComparison(slices);
  return { prepared, ranInWorker: false, mainThreadMs: performance.now() - started };
}

function inWorker(slices: SliceInput[], signal?: AbortSignal): Promise<ComparisonRun> {
  // Built as its own entry (webpack.config.js), next to the extension bundle.
  const worker = new Worker(new URL(METRICS_WORKER_FILE, import.meta.url), { type: 'module', name: 'clue-metrics' });
  return new Promise<ComparisonRun>((resolve, reject) => {
    const finish = () => {
      worker.terminate();
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = () => {
      finish();
      reject(new DOMException('The comparison was cancelled.', 'AbortError'));
    };
    signal?.addEventListener('abort', onAbort);
    worker.onmessage = (event: MessageEvent<MetricsReply>) => {
      finish();
      if (event.data.ok) resolve({ prepared: event.data.prepared, ranInWorker: true, mainThreadMs: 0 });
      else reject(new MetricsError(event.data.message));
    };
    worker.onerror = (event) => {
      finish();
      reject(new Error(`the metrics worker failed to start: ${event.message || 'no details'}`));
    };
    // Copies, not transfers: the maps stay in the result cache for the threshold and exports.
    worker.postMessage({ slices });
  });
}

export async function runComparison(slices: SliceInput[], signal?: AbortSignal): Promise<ComparisonRun> {
  if (slices.length <= 1 || typeof Worker === 'undefined') return inPlace(slices);
  try {
    return await inWorker(slices, signal);
  } catch (error) {
    if (error instanceof MetricsError || (error instanceof DOMException && error.name === 'AbortError')) throw error;
    console.warn('[clue] metrics worker unavailable, computing on the main thread', error);
    return inPlace(slices);
  }
}
