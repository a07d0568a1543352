// The results record the panel exports: which data (study/series/SOP UIDs), which model (id,
// version, sha256 of the weights), which threshold, when, and the metrics. JSON keeps the whole
// record (curves included); CSV is one row per slice plus one "series" row, for spreadsheets.
// docs/results-and-dicom.md documents both formats.
import type { ModelIdentity } from '../modelIdentity';
import type { GroundTruthMetrics, SeriesMetrics, SliceMetrics } from './groundTruth';

export const RESULTS_FORMAT = 'clue-results/1';

export type { ModelIdentity };

export interface GroundTruthSource {
  /** What the user picked, as shown in the panel (e.g. the SEG's series description). */
  label: string;
  seriesInstanceUID: string | null;
  sopInstanceUID: string | null;
}

export interface ResultsRecord {
  format: typeof RESULTS_FORMAT;
  /** ISO 8601, UTC. */
  createdAt: string;
  studyInstanceUID: string;
  seriesInstanceUID: string;
  model: ModelIdentity;
  threshold: number;
  groundTruth: GroundTruthSource;
  series: SeriesMetrics | null;
  slices: SliceMetrics[];
}

export interface ResultsContext {
  studyInstanceUID: string;
  seriesInstanceUID: string;
  model: ModelIdentity;
  groundTruth: GroundTruthSource;
  /** Defaults to now; pass one for reproducible output. */
  createdAt?: Date;
}

export function buildResultsRecord(context: ResultsContext, metrics: GroundTruthMetrics): ResultsRecord {
  return {
    format: RESULTS_FORMAT,
    createdAt: (context.createdAt ?? new Date()).toISOString(),
    studyInstanceUID: context.studyInstanceUID,
    seriesInstanceUID: context.seriesInstanceUID,
    model: { ...context.model },
    threshold: metrics.threshold,
    groundTruth: { ...context.groundTruth },
    series: metrics.series,
    slices: metrics.slices,
  };
}

/** JSON text; non-finite numbers (none are produced, but a caller's threshold could be) become null. */
export function resultsToJson(record: ResultsRecord): string {
  return `${JSON.stringify(record, (_key, value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value), 2)}\n`;
}

export const CSV_COLUMNS = [
  'scope',
  'study_instance_uid',
  'series_instance_uid',
  'sop_instance_uid',
  'frame_number',
  'model_id',
  'model_version',
  'model_sha256',
  'threshold',
  'created_at',
  'ground_truth',
  'pixel_count',
  'ground_truth_pixels',
  'predicted_pixels',
  'pixel_auroc',
  'dice',
  'iou',
  'best_dice_threshold',
  'best_dice',
  'best_iou',
  'image_score',
  'image_label',
  'image_auroc',
] as const;

type CsvValue = string | number | boolean | null;

/** RFC 4180 field: quoted when it holds a comma, quote or line break; null → empty. */
function csvField(value: CsvValue): string {
  if (value === null) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? '1' : '0';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** CSV text: a header, one row per slice, then one `series` row (pooled metrics). */
export function resultsToCsv(record: ResultsRecord): string {
  const common = (): Record<string, CsvValue> => ({
    study_instance_uid: record.studyInstanceUID,
    series_instance_uid: record.seriesInstanceUID,
    model_id: record.model.id,
    model_version: record.model.version,
    model_sha256: record.model.sha256,
    threshold: record.threshold,
    created_at: record.createdAt,
    ground_truth: record.groundTruth.label,
  });
  const rows: Record<string, CsvValue>[] = record.slices.map((slice) => ({
    ...common(),
    scope: 'slice',
    sop_instance_uid: slice.sopInstanceUID,
    frame_number: slice.frameNumber,
    pixel_count: slice.pixelCount,
    ground_truth_pixels: slice.groundTruthPixels,
    predicted_pixels: slice.predictedPixels,
    pixel_auroc: slice.pixelAuroc,
    dice: slice.dice,
    iou: slice.iou,
    best_dice_threshold: slice.bestDice?.threshold ?? null,
    best_dice: slice.bestDice?.dice ?? null,
    best_iou: slice.bestDice?.iou ?? null,
    image_score: slice.imageScore,
    image_label: slice.imageLabel,
  }));
  const series = record.series;
  if (series) {
    rows.push({
      ...common(),
      scope: 'series',
      pixel_count: series.pixelCount,
      ground_truth_pixels: series.groundTruthPixels,
      predicted_pixels: series.predictedPixels,
      pixel_auroc: series.pixelAuroc,
      dice: series.dice,
      iou: series.iou,
      best_dice_threshold: series.bestDice?.threshold ?? null,
      best_dice: series.bestDice?.dice ?? null,
      best_iou: series.bestDice?.iou ?? null,
      image_auroc: series.imageAuroc,
    });
  }
  const lines = [CSV_COLUMNS.join(',')];
  for (const row of rows) lines.push(CSV_COLUMNS.map((column) => csvField(row[column] ?? null)).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Suggested download file name, e.g. clue-results-<series UID>-<date>.csv (no patient data). */
export function resultsFileName(record: ResultsRecord, extension: 'csv' | 'json'): string {
  const stamp = record.createdAt.replace(/[:.]/g, '-');
  return `clue-results-${record.seriesInstanceUID}-${stamp}.${extension}`;
}
