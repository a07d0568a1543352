// The series comparison off the main thread: ~2 s for 180 slices of 256² (the metrics
// benchmark, docs/results-and-dicom.md), far too long for the viewer's thread. Receives the slices (maps + masks) and the threshold,
// answers with computeGroundTruthMetrics' plain result, or the error's message.
import { computeGroundTruthMetrics, type SliceInput } from '../metrics';

export interface MetricsRequest {
  slices: SliceInput[];
  threshold: number;
}

export type MetricsReply = { ok: true; metrics: ReturnType<typeof computeGroundTruthMetrics> } | { ok: false; message: string };

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<MetricsRequest>) => void) | null;
  postMessage(message: MetricsReply): void;
};

scope.onmessage = (event) => {
  try {
    scope.postMessage({ ok: true, metrics: computeGroundTruthMetrics(event.data.slices, event.data.threshold) });
  } catch (error) {
    scope.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
  }
};
