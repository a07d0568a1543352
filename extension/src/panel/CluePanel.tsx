// The panel: UI only. It reads the store and calls the three actions it is given (which run
// our commands); it never touches OHIF or Cornerstone. Every element a test needs has a
// stable data-testid.
import { useSyncExternalStore, type CSSProperties } from 'react';
import type { ClueStore, SliceResult } from '../state';

export interface CluePanelProps {
  store: ClueStore;
  onRun(): void;
  onThresholdChange(threshold: number): void;
  onClear(): void;
}

const styles: Record<string, CSSProperties> = {
  root: { padding: 12, color: '#d8e1ea', fontSize: 13, lineHeight: 1.4, display: 'flex', flexDirection: 'column', gap: 10 },
  title: { fontSize: 15, fontWeight: 600, color: '#ffffff', margin: 0 },
  row: { display: 'flex', gap: 8, alignItems: 'center' },
  button: {
    background: '#348cfd', color: '#fff', border: 'none', borderRadius: 4, padding: '6px 12px',
    fontSize: 13, cursor: 'pointer',
  },
  secondaryButton: {
    background: 'transparent', color: '#a9c5e8', border: '1px solid #3a4d66', borderRadius: 4,
    padding: '5px 10px', fontSize: 12, cursor: 'pointer',
  },
  status: { color: '#a9b8c8' },
  error: { color: '#ff8a80', background: 'rgba(255, 82, 82, 0.12)', padding: 8, borderRadius: 4 },
  slider: { flex: 1 },
  table: { display: 'grid', gridTemplateColumns: 'auto 1fr', columnGap: 10, rowGap: 4, margin: 0 },
  term: { color: '#8aa0b8' },
  value: { margin: 0, wordBreak: 'break-all', color: '#e8eef5' },
  note: { color: '#8aa0b8', fontSize: 11 },
};

function ResultTable({ result }: { result: SliceResult }) {
  const lut = result.modalityLut;
  return (
    <dl style={styles.table} data-testid="clue-result">
      <dt style={styles.term}>Voxels</dt>
      <dd style={styles.value} data-testid="clue-result-voxels">{result.voxelCount}</dd>
      <dt style={styles.term}>Score</dt>
      <dd style={styles.value} data-testid="clue-result-score">{result.score.toFixed(3)}</dd>
      <dt style={styles.term}>Map</dt>
      <dd style={styles.value} data-testid="clue-result-map">{result.mapName}</dd>
      <dt style={styles.term}>Map range</dt>
      <dd style={styles.value} data-testid="clue-result-map-range">
        {result.mapMin.toFixed(3)} – {result.mapMax.toFixed(3)}
      </dd>
      <dt style={styles.term}>Slice</dt>
      <dd style={styles.value} data-testid="clue-result-size">{result.rows} × {result.columns}</dd>
      <dt style={styles.term}>Modality LUT</dt>
      <dd style={styles.value} data-testid="clue-result-lut">
        ×{lut.slope} + {lut.intercept}{lut.appliedByLoader ? ' (applied by the loader)' : ''}
      </dd>
      <dt style={styles.term}>Segmentation</dt>
      <dd style={styles.value} data-testid="clue-result-segmentation-id">{result.segmentationId}</dd>
      <dt style={styles.term}>Time</dt>
      <dd style={styles.value} data-testid="clue-result-duration">{result.durationMs.toFixed(0)} ms</dd>
    </dl>
  );
}

export function CluePanel({ store, onRun, onThresholdChange, onClear }: CluePanelProps) {
  // The third argument (server snapshot) lets the panel render to HTML too (unit tests).
  const state = useSyncExternalStore(store.subscribe, store.getState, store.getState);
  const running = state.status === 'running';
  return (
    <section style={styles.root} data-testid="clue-panel" data-status={state.status}>
      <h2 style={styles.title}>CLUE anomaly map</h2>
      <div style={styles.row}>
        <button type="button" style={styles.button} onClick={onRun} disabled={running} data-testid="clue-run-button">
          {running ? 'Running…' : 'Run on slice'}
        </button>
        <button type="button" style={styles.secondaryButton} onClick={onClear} disabled={running} data-testid="clue-clear-button">
          Clear
        </button>
      </div>
      <div style={styles.status} data-testid="clue-status">{state.message}</div>
      {state.error ? (
        <div style={styles.error} role="alert" data-testid="clue-error">{state.error}</div>
      ) : null}
      <label style={styles.row}>
        <span>Threshold</span>
        <input
          type="range"
          min={0}
          max={1}
          step={0.01}
          value={state.threshold}
          style={styles.slider}
          onChange={(event) => onThresholdChange(Number(event.currentTarget.value))}
          data-testid="clue-threshold-slider"
          aria-label="Threshold"
        />
        <span data-testid="clue-threshold-value">{state.threshold.toFixed(2)}</span>
      </label>
      {state.lastResult ? <ResultTable result={state.lastResult} /> : null}
      {state.lastResult?.mapName === 'placeholderIntensityMap' ? (
        <div style={styles.note} data-testid="clue-placeholder-note">
          Placeholder map (robust intensity z-score), not the CLUE model.
        </div>
      ) : null}
    </section>
  );
}
