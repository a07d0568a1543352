// Panel sections for the ground-truth comparison (numbers, a small ROC / Dice-vs-threshold
// plot, CSV/JSON export) and for saving the results as DICOM. UI only: it reads the store's
// state and calls the callbacks it is given.
import { useState, type CSSProperties } from 'react';
import type { DiceCurvePoint, RocPoint, SeriesMetrics, SliceMetrics } from '../metrics';
import type { ClueState } from '../service/state';
import { sharedPanelStyles } from './styles';

export interface ResultsCallbacks {
  onListGroundTruths?(): void;
  onCompare?(segmentationId: string, segmentIndex: number | null): void;
  onExport?(format: 'csv' | 'json'): void;
  onDownloadSeg?(): void;
  onDownloadParametricMap?(): void;
  onStoreToPacs?(): void;
}

const s: Record<string, CSSProperties> = {
  ...sharedPanelStyles,
  select: {
    background: '#0b1a2b',
    color: '#d8e1ea',
    border: '1px solid #3a4d66',
    borderRadius: 4,
    padding: 3,
    fontSize: 12,
    maxWidth: '100%',
  },
  table: { borderCollapse: 'collapse', fontSize: 12, width: '100%' },
  th: { textAlign: 'left', color: '#8aa0b8', fontWeight: 400, padding: '1px 4px' },
  td: { color: '#e8eef5', padding: '1px 4px', fontVariantNumeric: 'tabular-nums' },
};

export function formatMetric(value: number | null | undefined, digits = 3): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

type MetricsRow = Pick<SliceMetrics, 'pixelAuroc' | 'dice' | 'iou' | 'bestDice'> & {
  imageScore?: number | null;
  imageLabel?: boolean;
  imageAuroc?: number | null;
};

function MetricsColumn({ row, scope }: { row: MetricsRow | null; scope: 'slice' | 'series' }) {
  const cell = (name: string, text: string) => (
    <td style={s.td} data-testid={`clue-gt-${scope}-${name}`}>
      {text}
    </td>
  );
  return row ? (
    <>
      {cell('auroc', formatMetric(row.pixelAuroc))}
      {cell('dice', formatMetric(row.dice))}
      {cell('iou', formatMetric(row.iou))}
      {cell(
        'best',
        row.bestDice ? `${formatMetric(row.bestDice.dice)} @ ${formatMetric(row.bestDice.threshold, 3)}` : '—',
      )}
      {scope === 'slice'
        ? cell('image', `${formatMetric(row.imageScore ?? null)} vs ${row.imageLabel ? 'abnormal' : 'normal'}`)
        : cell('image', `AUROC ${formatMetric(row.imageAuroc ?? null)}`)}
    </>
  ) : (
    <>{['auroc', 'dice', 'iou', 'best', 'image'].map((name) => cell(name, '—'))}</>
  );
}

const PLOT = 120;

function polyline(points: Array<[number, number]>): string {
  return points.map(([x, y]) => `${(x * PLOT).toFixed(1)},${((1 - y) * PLOT).toFixed(1)}`).join(' ');
}

/**
 * ROC curve and Dice vs threshold, both on [0, 1]², with the current threshold marked: a line,
 * and a dot at the series' Dice there (the number in the table, not read off the sampled curve).
 */
export function MetricsPlot({
  roc,
  diceCurve,
  threshold,
  dice,
}: {
  roc: RocPoint[] | null;
  diceCurve: DiceCurvePoint[];
  threshold: number;
  dice: number;
}) {
  const axes = <rect x={0} y={0} width={PLOT} height={PLOT} fill="none" stroke="#3a4d66" />;
  return (
    <div style={s.row}>
      <figure style={{ margin: 0 }} data-testid="clue-gt-roc">
        <svg width={PLOT} height={PLOT} viewBox={`0 0 ${PLOT} ${PLOT}`} role="img" aria-label="Pixel ROC curve">
          {axes}
          <line x1={0} y1={PLOT} x2={PLOT} y2={0} stroke="#3a4d66" strokeDasharray="3 3" />
          {roc ? (
            <polyline
              fill="none"
              stroke="#ffb74d"
              strokeWidth={1.5}
              points={polyline(roc.map((p) => [p.fpr, p.tpr]))}
            />
          ) : null}
        </svg>
        <figcaption style={s.note}>ROC (FPR → TPR){roc ? '' : ': needs both classes'}</figcaption>
      </figure>
      <figure style={{ margin: 0 }} data-testid="clue-gt-dice-curve">
        <svg width={PLOT} height={PLOT} viewBox={`0 0 ${PLOT} ${PLOT}`} role="img" aria-label="Dice versus threshold">
          {axes}
          <line x1={threshold * PLOT} y1={0} x2={threshold * PLOT} y2={PLOT} stroke="#ffffff" strokeWidth={1} />
          <polyline
            fill="none"
            stroke="#4fc3f7"
            strokeWidth={1.5}
            points={polyline(diceCurve.map((p) => [p.threshold, p.dice]))}
          />
          <circle
            data-testid="clue-gt-dice-marker"
            data-threshold={threshold}
            data-dice={dice}
            cx={(threshold * PLOT).toFixed(1)}
            cy={((1 - dice) * PLOT).toFixed(1)}
            r={3}
            fill="#ffffff"
          />
        </svg>
        <figcaption
          style={s.note}
        >{`Dice vs threshold (white: current, ${formatMetric(dice)} @ ${formatMetric(threshold, 2)})`}</figcaption>
      </figure>
    </div>
  );
}

export function ComparisonSection({ state, callbacks }: { state: ClueState; callbacks: ResultsCallbacks }) {
  const comparison = state.comparison;
  return (
    <div data-testid="clue-gt" data-gt-status={comparison.status}>
      <h3 style={s.subtitle}>Compare with ground truth</h3>
      <GroundTruthPicker comparison={comparison} callbacks={callbacks} />
      {comparison.message ? (
        <div style={s.note} data-testid="clue-gt-message">
          {comparison.message}
        </div>
      ) : null}
      {comparison.error ? (
        <div style={s.error} role="alert" data-testid="clue-gt-error">
          {comparison.error}
        </div>
      ) : null}
      {comparison.metrics ? <ComparisonResults state={state} callbacks={callbacks} /> : null}
    </div>
  );
}

/** Which ground truth and segment to compare with, and the buttons that list and compare. */
function GroundTruthPicker({
  comparison,
  callbacks,
}: {
  comparison: ClueState['comparison'];
  callbacks: ResultsCallbacks;
}) {
  const [chosen, setChosen] = useState<string>('');
  const [segment, setSegment] = useState<string>('any');
  const candidates = comparison.candidates;
  const selectedId = candidates.some((c) => c.segmentationId === chosen)
    ? chosen
    : (candidates[0]?.segmentationId ?? '');
  const selected = candidates.find((c) => c.segmentationId === selectedId);
  return (
    <>
      <div style={s.row}>
        <select
          style={s.select}
          value={selectedId}
          data-testid="clue-gt-select"
          aria-label="Ground truth"
          onChange={(event) => setChosen(event.currentTarget.value)}
          onFocus={() => callbacks.onListGroundTruths?.()}
        >
          {candidates.length === 0 ? <option value="">(none listed)</option> : null}
          {candidates.map((c) => (
            <option key={c.segmentationId} value={c.segmentationId}>
              {c.label}
            </option>
          ))}
        </select>
        <select
          style={s.select}
          value={segment}
          data-testid="clue-gt-segment"
          aria-label="Segment"
          onChange={(event) => setSegment(event.currentTarget.value)}
        >
          <option value="any">Any segment (non-zero)</option>
          {selected?.segments.map((seg) => (
            <option key={seg.segmentIndex} value={String(seg.segmentIndex)}>
              {seg.label}
            </option>
          ))}
        </select>
      </div>
      <div style={s.row}>
        <button
          type="button"
          style={s.secondaryButton}
          data-testid="clue-gt-refresh"
          onClick={() => callbacks.onListGroundTruths?.()}
        >
          List ground truths
        </button>
        <button
          type="button"
          style={s.secondaryButton}
          data-testid="clue-gt-compare"
          disabled={comparison.status === 'computing'}
          onClick={() => callbacks.onCompare?.(selectedId, segment === 'any' ? null : Number(segment))}
        >
          {comparison.status === 'computing' ? 'Comparing…' : 'Compare'}
        </button>
      </div>
    </>
  );
}

/** The metrics of the comparison on show: the displayed slice and the series, curves, exports. */
function ComparisonResults({ state, callbacks }: { state: ClueState; callbacks: ResultsCallbacks }) {
  const comparison = state.comparison;
  const metrics = comparison.metrics!;
  const displayedImageId = state.displayedResult?.imageId ?? null;
  const sliceIndex =
    displayedImageId && comparison.displaySetInstanceUID === state.displayedResult?.displaySetInstanceUID
      ? comparison.sliceImageIds.indexOf(displayedImageId)
      : -1;
  const slice = sliceIndex >= 0 ? (metrics.slices[sliceIndex] ?? null) : null;
  const series: SeriesMetrics | null = metrics.series ?? null;
  return (
    <>
      <table style={s.table} data-testid="clue-gt-table">
        <thead>
          <tr>
            <th style={s.th} />
            <th style={s.th}>AUROC</th>
            <th style={s.th} data-testid="clue-gt-dice-header">{`Dice @ ${formatMetric(metrics.threshold, 2)}`}</th>
            <th style={s.th}>IoU</th>
            <th style={s.th}>best Dice @ t</th>
            <th style={s.th}>image</th>
          </tr>
        </thead>
        <tbody>
          <tr>
            <th style={s.th}>Slice</th>
            <MetricsColumn row={slice} scope="slice" />
          </tr>
          <tr>
            <th style={s.th}>Series ({series?.sliceCount ?? 0})</th>
            <MetricsColumn row={series} scope="series" />
          </tr>
        </tbody>
      </table>
      {slice?.notes.length ? <div style={s.note}>{slice.notes.join('; ')}</div> : null}
      {series?.notes.length ? (
        <div style={s.note} data-testid="clue-gt-notes">
          {series.notes.join('; ')}
        </div>
      ) : null}
      {series ? (
        <MetricsPlot roc={series.roc} diceCurve={series.diceCurve} threshold={metrics.threshold} dice={series.dice} />
      ) : null}
      <div style={s.row}>
        <button
          type="button"
          style={s.secondaryButton}
          data-testid="clue-gt-export-csv"
          onClick={() => callbacks.onExport?.('csv')}
        >
          Export CSV
        </button>
        <button
          type="button"
          style={s.secondaryButton}
          data-testid="clue-gt-export-json"
          onClick={() => callbacks.onExport?.('json')}
        >
          Export JSON
        </button>
      </div>
    </>
  );
}

export function SaveSection({ state, callbacks }: { state: ClueState; callbacks: ResultsCallbacks }) {
  const save = state.save;
  const working = save.status === 'working';
  return (
    <div data-testid="clue-save" data-save-status={save.status}>
      <h3 style={s.subtitle}>Save results (DICOM)</h3>
      <div style={s.row}>
        <button
          type="button"
          style={s.secondaryButton}
          disabled={working}
          data-testid="clue-download-seg"
          onClick={() => callbacks.onDownloadSeg?.()}
        >
          Download SEG
        </button>
        <button
          type="button"
          style={s.secondaryButton}
          disabled={working}
          data-testid="clue-download-pmap"
          onClick={() => callbacks.onDownloadParametricMap?.()}
        >
          Download Parametric Map
        </button>
        <button
          type="button"
          style={s.secondaryButton}
          disabled={working}
          data-testid="clue-store-pacs"
          onClick={() => callbacks.onStoreToPacs?.()}
        >
          Store to PACS
        </button>
      </div>
      {save.message ? (
        <div style={s.note} data-testid="clue-save-message">
          {save.message}
        </div>
      ) : null}
      {save.error ? (
        <div style={s.error} role="alert" data-testid="clue-save-error">
          {save.error}
        </div>
      ) : null}
    </div>
  );
}
