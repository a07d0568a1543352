// The series comparison off the main thread: ~2 s for 180 slices of 256² (the metrics
// benchmark, docs/results-and-dicom.md), far too long for the viewer's thread. Receives the
// slices (maps + masks) and answers with prepareComparison's result — the threshold-free
// metrics plus each slice's sorted scores, transferred (not copied) so the main thread can
// derive Dice / IoU at any threshold in microseconds — or the error's message.
import { comparisonTransferables, prepareComparison, type PreparedComparison, type SliceInput } from '../metrics';

export interface MetricsRequest {
  slices: SliceInput[];
}

export type MetricsReply = { ok: true; prepared: PreparedComparison } | { ok: false; message: string };

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<MetricsRequest>) => void) | null;
  postMessage(message: MetricsReply, transfer?: Transferable[]): void;
};

scope.onmessage = (event) => {
  let prepared: PreparedComparison;
  try {
    prepared = prepareComparison(event.data.slices);
  } catch (error) {
    scope.postMessage({ ok: false, message: error instanceof Error ? error.message : String(error) });
    return;
  }
  scope.postMessage({ ok: true, prepared }, comparisonTransferables(prepared));
};
