// The ground-truth comparison behind the panel's "Compare with ground truth": the displayed
// series' stored maps (never a model rerun) against a segmentation the host has loaded. Dice
// and IoU follow the threshold: ClueService calls `followThreshold` whenever it changes it.
import { ClueInputError, messageForUser } from '../errors';
import {
  buildResultsRecord,
  resultsFileName,
  resultsToCsv,
  resultsToJson,
  metricsAtThreshold,
  type GroundTruthMetrics,
  type ModelIdentity,
  type PreparedComparison,
  type ResultsContext,
  type ResultsRecord,
  type SliceInput,
} from '../metrics';
import { runComparison } from '../results/comparison';
import { downloadFile } from '../results/download';
import type { StoredResult } from '../results/resultCache';
import { clueSegmentationId, type ClueHost, type GroundTruthCandidate } from '../viewer/host';
import type { ClueStore, ComparisonState } from './state';

/** The comparison on show: its prepared (threshold-free) part, and its numbers at one threshold. */
interface ShownComparison {
  prepared: PreparedComparison;
  context: ResultsContext | null;
  metrics: GroundTruthMetrics;
  record: ResultsRecord | null;
}

export interface CompareOptions {
  segmentationId?: string;
  /** Segment compared; null or absent = any non-zero voxel. */
  segmentIndex?: number | null;
  viewportId?: string;
}

/** The stored image maps of the displayed series, in the display set's own slice order. */
export interface SeriesMaps {
  displaySetInstanceUID: string;
  slices: StoredResult[];
  /** Images in the display set (a partial map covers fewer). */
  seriesSize: number;
}

export function seriesMaps(host: ClueHost, stored: (uid: string) => StoredResult[], viewportId?: string): SeriesMaps {
  const displaySet = host.displaySetOf(host.resolveViewportId(viewportId));
  const list = stored(displaySet.displaySetInstanceUID);
  if (list.length === 0)
    throw new ClueInputError(
      'No map is stored for the displayed series: run the model on a slice or the series first.',
    );
  const order = new Map(displaySet.imageIds.map((id, index) => [id, index]));
  const slices = [...list].sort((a, b) => (order.get(a.imageId) ?? 0) - (order.get(b.imageId) ?? 0));
  return { displaySetInstanceUID: displaySet.displaySetInstanceUID, slices, seriesSize: displaySet.imageIds.length };
}

export class GroundTruthComparison {
  private run = 0;
  private abort: AbortController | null = null;
  /** The comparison the state shows, kept so its Dice / IoU follow the threshold. */
  private shown: ShownComparison | null = null;

  constructor(
    private readonly host: ClueHost,
    private readonly state: ClueStore,
    /** The image results of a display set (a reformatted plane lies across many source images). */
    private readonly stored: (displaySetInstanceUID: string) => StoredResult[],
    private readonly modelIdentity: () => ModelIdentity | null,
  ) {}

  /** The record the exports write: the last comparison at the current threshold (null: none yet). */
  get record(): ResultsRecord | null {
    return this.shown?.record ?? null;
  }

  /** Downloads the record on show as CSV or JSON; what went wrong is a message in the panel. */
  exportRecord(format: unknown): void {
    try {
      const record = this.shown?.record;
      if (!record) throw new ClueInputError('Nothing to export: compare with a ground truth first.');
      if (format === 'csv') downloadFile(resultsFileName(record, 'csv'), resultsToCsv(record), 'text/csv');
      else if (format === 'json')
        downloadFile(resultsFileName(record, 'json'), resultsToJson(record), 'application/json');
      else throw new ClueInputError(`Export format must be "csv" or "json", got ${String(format)}.`);
      this.set({ message: `Exported the results as ${format.toUpperCase()}.` });
    } catch (error) {
      this.set({ error: messageForUser(error) });
    }
  }

  listCandidates(): GroundTruthCandidate[] {
    const candidates = this.host.listGroundTruthCandidates();
    this.set({ candidates });
    return candidates;
  }

  /** Stops a comparison in flight and forgets the one on show (Clear, mode exit). */
  cancel(): void {
    this.run++;
    this.abort?.abort();
    this.abort = null;
    this.shown = null;
  }

  /**
   * The numbers on show, moved to `threshold` (binary searches: microseconds); null when
   * nothing is on show or they are already there. The caller writes them to the state in the
   * same update as the threshold, so no reader ever sees one without the other.
   */
  followThreshold(threshold: number): GroundTruthMetrics | null {
    if (!this.shown || this.shown.metrics.threshold === threshold) return null;
    this.shown = atThreshold(this.shown.prepared, this.shown.context, threshold);
    return this.shown.metrics;
  }

  async compare(options: CompareOptions = {}): Promise<void> {
    const run = ++this.run;
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    try {
      const chosen = this.choose(options.segmentationId);
      const segmentIndex = options.segmentIndex ?? null;
      const prepStarted = performance.now();
      const { displaySetInstanceUID, slices } = seriesMaps(this.host, this.stored, options.viewportId);
      this.set({
        status: 'computing',
        error: null,
        message: `Comparing ${slices.length} slice(s) with “${chosen.label}”…`,
      });
      const { inputs, coveredSlices, firstAttributes } = await this.inputs(chosen, segmentIndex, slices);
      if (run !== this.run) return;
      const prepMs = performance.now() - prepStarted; // reading the masks: on the main thread
      const result = await runComparison(inputs, abort.signal);
      if (run !== this.run) return;
      const groundTruthLabel = `${chosen.label} (${segmentLabel(chosen, segmentIndex)})`;
      const context = this.context(chosen.segmentationId, groundTruthLabel, firstAttributes);
      this.showOurs(options.viewportId, displaySetInstanceUID);
      // At the threshold of now, not of when Compare was pressed (the slider may have moved
      // while the worker sorted).
      this.shown = atThreshold(result.prepared, context, this.state.getState().threshold);
      this.set({
        status: 'done',
        error: null,
        segmentationId: chosen.segmentationId,
        segmentIndex,
        groundTruthLabel,
        displaySetInstanceUID,
        sliceImageIds: slices.map((s) => s.imageId),
        coveredSlices,
        metrics: this.shown.metrics,
        computeMs: Math.round(prepMs + result.mainThreadMs),
        ranInWorker: result.ranInWorker,
        message: `Compared ${slices.length} slice(s) with “${groundTruthLabel}” (${coveredSlices} slice(s) covered by the ground truth); Dice and IoU follow the threshold.`,
      });
    } catch (error) {
      if (run !== this.run || (error instanceof DOMException && error.name === 'AbortError')) return;
      if (!(error instanceof ClueInputError)) console.error('[clue]', error);
      this.set({ status: 'error', error: messageForUser(error), message: 'The comparison did not complete.' });
    }
  }

  private choose(segmentationId: string | undefined): GroundTruthCandidate {
    const candidates = this.listCandidates();
    const chosen =
      candidates.find((c) => c.segmentationId === segmentationId) ?? (segmentationId ? undefined : candidates[0]);
    if (chosen) return chosen;
    throw new ClueInputError(
      segmentationId
        ? `The ground truth "${segmentationId}" is not loaded in the viewer.`
        : "No ground truth is loaded: open the study's SEG (or draw a segmentation) first.",
    );
  }

  /** Each stored map with its ground-truth mask, named by its source instance. */
  private async inputs(chosen: GroundTruthCandidate, segmentIndex: number | null, slices: StoredResult[]) {
    const instances = slices.map((slice) => this.host.sourceInstance(slice.imageId));
    const { masks, coveredSlices } =
      chosen.source === 'file'
        ? await this.readFile(chosen, segmentIndex, slices, instances)
        : this.host.readGroundTruthMasks(
            chosen.segmentationId,
            segmentIndex,
            slices.map((s) => ({ imageId: s.imageId, pixelCount: s.map.length })),
          );
    const inputs: SliceInput[] = slices.map((slice, index) => {
      const instance = instances[index]!;
      return {
        sopInstanceUID: instance.sopInstanceUID,
        ...(instance.frameNumber !== undefined ? { frameNumber: instance.frameNumber } : {}),
        map: slice.map,
        groundTruth: masks[index]!,
        imageScore: slice.score,
      };
    });
    return { inputs, coveredSlices, firstAttributes: instances[0]!.attributes };
  }

  /** A SEG the viewer has not loaded, read from its file (dcmjs loads on first use). */
  private async readFile(
    chosen: GroundTruthCandidate,
    segmentIndex: number | null,
    slices: StoredResult[],
    instances: Array<{ sopInstanceUID: string; frameNumber?: number }>,
  ) {
    this.set({ message: `Reading “${chosen.label}” from the data source…` });
    const [bytes, dicom] = await Promise.all([
      this.host.readGroundTruthFile(chosen.segmentationId),
      import('../dicom'),
    ]);
    const seg = dicom.readSegmentation(bytes);
    const images = slices.map((slice, index) => ({ ...instances[index]!, pixelCount: slice.map.length }));
    return dicom.segmentationMasks(seg, images, segmentIndex);
  }

  /** What the export records about the data and the model; null while the model identity is unknown. */
  private context(segmentationId: string, label: string, attributes: Record<string, unknown>): ResultsContext | null {
    const model = this.modelIdentity();
    if (!model) return null;
    return {
      studyInstanceUID: String(attributes.StudyInstanceUID ?? ''),
      seriesInstanceUID: String(attributes.SeriesInstanceUID ?? ''),
      model,
      groundTruth: { label, ...this.host.groundTruthReference(segmentationId) },
    };
  }

  /**
   * Loading a SEG gives the viewport the SEG's representation only; ours is put back (outline,
   * our colour) so the prediction and the ground truth are seen together, not merged.
   */
  private showOurs(viewportId: string | undefined, displaySetInstanceUID: string): void {
    this.host
      .showOurLabelmap(
        this.host.resolveViewportId(viewportId),
        displaySetInstanceUID,
        clueSegmentationId(displaySetInstanceUID),
      )
      .catch((error) => console.warn('[clue] could not show our labelmap next to the ground truth', error));
  }

  private set(update: Partial<ComparisonState>): void {
    this.state.setState((s) => ({ comparison: { ...s.comparison, ...update } }));
  }
}

function atThreshold(prepared: PreparedComparison, context: ResultsContext | null, threshold: number): ShownComparison {
  const metrics = metricsAtThreshold(prepared, threshold);
  return { prepared, context, metrics, record: context ? buildResultsRecord(context, metrics) : null };
}

function segmentLabel(chosen: GroundTruthCandidate, segmentIndex: number | null): string {
  if (segmentIndex === null) return 'any segment';
  return chosen.segments.find((s) => s.segmentIndex === segmentIndex)?.label ?? `segment ${segmentIndex}`;
}
