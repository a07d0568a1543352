// The panel: UI only. It reads the store and calls the actions it is given (which run our
// commands); it never touches OHIF or Cornerstone. Every element a test needs has a stable
// data-testid.
import { useSyncExternalStore, type CSSProperties } from 'react';
import type { ClueState, ModelState, ResultSummary, SeriesRunState } from '../service/state';
import type { StateSource } from '../service/store';
import { COLORMAP_NAME, colormapCssGradient } from '../overlay/colormap';
import { describeDomain, describeSliceLine, type DomainCheck } from '../domain/domain';
import { ComparisonSection, SaveSection, type ResultsCallbacks } from './ResultsSections';
import { sharedPanelStyles } from './styles';

export interface CluePanelProps extends ResultsCallbacks {
  store: StateSource<ClueState>;
  onRun(): void;
  onRunSeries(): void;
  onCancel(): void;
  onThresholdChange(threshold: number): void;
  onOpacityChange(opacity: number): void;
  onClear(): void;
}

const styles: Record<string, CSSProperties> = {
  ...sharedPanelStyles,
  root: {
    padding: 12,
    color: '#d8e1ea',
    fontSize: 13,
    lineHeight: 1.4,
    display: 'flex',
    flexDirection: 'column',
    gap: 10,
  },
  title: { fontSize: 15, fontWeight: 600, color: '#ffffff', margin: 0 },
  button: {
    background: '#348cfd',
    color: '#fff',
    border: 'none',
    borderRadius: 4,
    padding: '6px 12px',
    fontSize: 13,
    cursor: 'pointer',
  },
  status: { color: '#a9b8c8' },
  slider: { flex: 1 },
  table: { display: 'grid', gridTemplateColumns: 'auto 1fr', columnGap: 10, rowGap: 4, margin: 0 },
  term: { color: '#8aa0b8' },
  value: { margin: 0, wordBreak: 'break-all', color: '#e8eef5' },
  caution: {
    color: '#ffd180',
    background: 'rgba(255, 171, 0, 0.14)',
    border: '1px solid rgba(255, 171, 0, 0.5)',
    padding: 8,
    borderRadius: 4,
  },
  list: { margin: '4px 0 0 0', paddingLeft: 16 },
  progress: { width: '100%', height: 8 },
  legendBar: { height: 10, borderRadius: 2, position: 'relative' },
  legendScale: { display: 'flex', justifyContent: 'space-between', fontSize: 11, color: '#8aa0b8' },
};

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(0)} kB`;
  return `${bytes} B`;
}

function ModelSection({ model }: { model: ModelState }) {
  return (
    <div data-testid="clue-model" data-model-status={model.status}>
      <h3 style={styles.subtitle}>Model</h3>
      {model.status === 'not-loaded' ? <div style={styles.note}>Loaded on the first run from {model.url}.</div> : null}
      {model.status === 'loading' ? (
        <div data-testid="clue-model-progress">
          Loading ({model.phase ?? '…'}): {formatBytes(model.loadedBytes)}
          {model.totalBytes ? ` of ${formatBytes(model.totalBytes)}` : ''}
          {model.totalBytes ? (
            <progress style={styles.progress} max={model.totalBytes} value={model.loadedBytes} />
          ) : null}
        </div>
      ) : null}
      {model.status === 'ready' ? (
        <dl style={styles.table}>
          <dt style={styles.term}>Model</dt>
          <dd style={styles.value} data-testid="clue-model-id">
            {model.modelId} {model.modelVersion}
          </dd>
          <dt style={styles.term}>Backend</dt>
          <dd style={styles.value} data-testid="clue-model-backend">
            {model.backend}
            {model.backend === 'wasm' && model.threads
              ? ` (${model.threads} thread${model.threads === 1 ? '' : 's'})`
              : ''}
          </dd>
          {model.variant ? (
            <>
              <dt style={styles.term}>Variant</dt>
              <dd style={styles.value} data-testid="clue-model-variant" data-dtype={model.variant.dtype}>
                {model.variant.dtype} ({model.variant.path})<div style={styles.note}>{model.variant.reason}</div>
              </dd>
            </>
          ) : null}
          <dt style={styles.term}>Loaded</dt>
          <dd style={styles.value} data-testid="clue-model-load">
            {formatBytes(model.modelBytes ?? 0)} {model.fromCache ? 'from the browser cache' : 'over the network'} in{' '}
            {model.loadMs} ms
          </dd>
          <dt style={styles.term}>Validated on</dt>
          <dd
            style={{ ...styles.value, wordBreak: 'normal' }}
            data-testid="clue-model-domain"
            data-domain-declared={model.domain ? 'true' : 'false'}
          >
            {model.domain
              ? describeDomain(model.domain)
              : 'validated domain not declared (the model’s manifest has none): slices cannot be checked against it'}
            {model.domain?.note ? <div style={styles.note}>{model.domain.note}</div> : null}
          </dd>
        </dl>
      ) : null}
      {model.status === 'ready' && model.skipped.length ? (
        <ul style={{ ...styles.note, margin: '4px 0 0 0', paddingLeft: 16 }} data-testid="clue-model-skipped">
          {model.skipped.map((s) => (
            <li key={s.backend}>
              {s.backend} not used: {s.reason}
            </li>
          ))}
        </ul>
      ) : null}
      {model.status === 'ready' && model.cacheProblem ? (
        <div style={styles.note}>Not cached: {model.cacheProblem}</div>
      ) : null}
      {model.status === 'error' ? (
        <div style={styles.error} data-testid="clue-model-error">
          {model.error}
        </div>
      ) : null}
    </div>
  );
}

function SeriesProgress({ series }: { series: SeriesRunState }) {
  if (series.status === 'idle') return null;
  return (
    <div data-testid="clue-series" data-series-status={series.status}>
      <progress
        style={styles.progress}
        max={series.total || 1}
        value={series.done}
        data-testid="clue-series-progress"
      />
      <div style={styles.note} data-testid="clue-series-text">
        Series {series.status}: {series.done} of {series.total} slices ({series.computed} computed in this run
        {series.blank ? `, ${series.blank} blank not run` : ''})
      </div>
    </div>
  );
}

/**
 * The slice against the model's validated domain: a caution for each part outside it, a note
 * for what the slice's attributes do not say (not checked), a line when all is inside.
 */
function DomainNotice({ check }: { check: DomainCheck }) {
  if (!check.declared) {
    return (
      <div style={styles.note} data-testid="clue-domain" data-domain-status="undeclared">
        Not checked against a validated domain: the model declares none.
      </div>
    );
  }
  const outside = check.findings.filter((f) => f.status === 'outside');
  const unchecked = check.findings.filter((f) => f.status === 'not-checked');
  const status = outside.length ? 'outside' : unchecked.length ? 'partly-checked' : 'inside';
  return (
    <div data-testid="clue-domain" data-domain-status={status}>
      {outside.length ? (
        <div style={styles.caution} role="alert" data-testid="clue-domain-caution">
          <strong>Outside the model’s validated domain</strong>
          <ul style={styles.list}>
            {outside.map((f) => (
              <li key={f.field} data-domain-field={f.field}>
                {f.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      {unchecked.length ? (
        <ul style={{ ...styles.note, ...styles.list }} data-testid="clue-domain-unchecked">
          {unchecked.map((f) => (
            <li key={f.field} data-domain-field={f.field}>
              {f.message}
            </li>
          ))}
        </ul>
      ) : null}
      {status === 'inside' ? <div style={styles.note}>Within the model’s validated domain.</div> : null}
    </div>
  );
}

function ResultTable({ result }: { result: ResultSummary }) {
  const lut = result.modalityLut;
  const t = result.timings;
  return (
    <dl style={styles.table} data-testid="clue-result">
      <dt style={styles.term}>Score</dt>
      <dd style={styles.value} data-testid="clue-result-score">
        {result.blank ? 'blank slice (one value): not run, nothing to detect' : result.score.toFixed(3)}
      </dd>
      <dt style={styles.term}>Voxels</dt>
      <dd style={styles.value} data-testid="clue-result-voxels">
        {result.voxelCount}
      </dd>
      <dt style={styles.term}>Map</dt>
      <dd style={styles.value} data-testid="clue-result-map">
        {result.mapName}
      </dd>
      <dt style={styles.term}>Map range</dt>
      <dd style={styles.value} data-testid="clue-result-map-range">
        {result.mapMin.toFixed(3)} – {result.mapMax.toFixed(3)}
      </dd>
      <dt style={styles.term}>Slice</dt>
      <dd style={styles.value} data-testid="clue-result-size">
        {result.rows} × {result.columns}
      </dd>
      <dt style={styles.term}>Acquisition</dt>
      <dd style={{ ...styles.value, wordBreak: 'normal' }} data-testid="clue-result-acquisition">
        {describeSliceLine(result.domain.slice)}
      </dd>
      <dt style={styles.term}>Modality LUT</dt>
      <dd style={styles.value} data-testid="clue-result-lut">
        ×{lut.slope} + {lut.intercept}
        {lut.appliedByLoader ? ' (applied by the loader)' : ''}
        {lut.perImage ? ' — per image: the plane’s source images differ, this is the first one’s' : ''}
      </dd>
      <dt style={styles.term}>Model time</dt>
      <dd style={styles.value} data-testid="clue-result-timings">
        pre {t.preprocessMs.toFixed(0)} ms · infer {t.inferenceMs.toFixed(0)} ms · post {t.postprocessMs.toFixed(0)} ms
      </dd>
      {result.durationMs > 0 ? (
        <>
          <dt style={styles.term}>Click → overlay</dt>
          <dd style={styles.value} data-testid="clue-result-duration">
            {result.durationMs.toFixed(0)} ms
          </dd>
        </>
      ) : null}
      <dt style={styles.term}>Segmentation</dt>
      <dd style={styles.value} data-testid="clue-result-segmentation-id">
        {result.segmentationId}
      </dd>
    </dl>
  );
}

function Legend({ state, onOpacityChange }: { state: ClueState; onOpacityChange(opacity: number): void }) {
  return (
    <div data-testid="clue-legend">
      <h3 style={styles.subtitle}>Heatmap</h3>
      <div style={{ ...styles.legendBar, background: colormapCssGradient() }} title={COLORMAP_NAME}>
        {/* Everything left of the marker is transparent on the image. */}
        <div
          data-testid="clue-legend-threshold"
          style={{
            position: 'absolute',
            top: -2,
            bottom: -2,
            left: `${state.threshold * 100}%`,
            width: 2,
            background: '#fff',
          }}
        />
        <div
          style={{
            position: 'absolute',
            top: 0,
            bottom: 0,
            left: 0,
            width: `${state.threshold * 100}%`,
            background: 'rgba(0,0,0,0.65)',
          }}
        />
      </div>
      <div style={styles.legendScale}>
        <span>0</span>
        <span>map value (transparent below the threshold)</span>
        <span>1</span>
      </div>
      <label style={styles.row}>
        <span>Opacity</span>
        <input
          type="range"
          min={0}
          max={1}
          step={0.05}
          value={state.overlayOpacity}
          style={styles.slider}
          onChange={(event) => onOpacityChange(Number(event.currentTarget.value))}
          data-testid="clue-opacity-slider"
          aria-label="Heatmap opacity"
        />
        <span data-testid="clue-opacity-value">{Math.round(state.overlayOpacity * 100)}%</span>
      </label>
    </div>
  );
}

export function CluePanel(props: CluePanelProps) {
  const { store, onRun, onRunSeries, onCancel, onThresholdChange, onOpacityChange, onClear } = props;
  // The third argument (server snapshot) lets the panel render to HTML too (unit tests).
  const state = useSyncExternalStore(store.subscribe, store.getState, store.getState);
  const running = state.status === 'running';
  const shown = state.displayedResult;
  return (
    <section style={styles.root} data-testid="clue-panel" data-status={state.status}>
      <h2 style={styles.title}>CLUE anomaly map</h2>
      {state.host?.caution ? (
        <div style={styles.caution} role="note" data-testid="clue-host-caution">
          {state.host.caution}
        </div>
      ) : null}
      <div style={styles.row}>
        <button type="button" style={styles.button} onClick={onRun} data-testid="clue-run-button">
          {running && state.series.status !== 'running' ? 'Running…' : 'Run on slice'}
        </button>
        <button
          type="button"
          style={styles.secondaryButton}
          onClick={onRunSeries}
          disabled={running}
          data-testid="clue-run-series-button"
        >
          Run series
        </button>
        {running ? (
          <button type="button" style={styles.secondaryButton} onClick={onCancel} data-testid="clue-cancel-button">
            Cancel
          </button>
        ) : (
          <button type="button" style={styles.secondaryButton} onClick={onClear} data-testid="clue-clear-button">
            Clear
          </button>
        )}
      </div>
      <div style={styles.status} data-testid="clue-status">
        {state.message}
      </div>
      {state.error ? (
        <div style={styles.error} role="alert" data-testid="clue-error">
          {state.error}
        </div>
      ) : null}
      <SeriesProgress series={state.series} />
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
      <Legend state={state} onOpacityChange={onOpacityChange} />
      <h3 style={styles.subtitle}>Displayed slice</h3>
      {shown ? (
        <>
          <DomainNotice check={shown.domain} />
          <ResultTable result={shown} />
        </>
      ) : (
        <div style={styles.note} data-testid="clue-no-result">
          No result stored for this slice.
        </div>
      )}
      <ComparisonSection state={state} callbacks={props} />
      <SaveSection state={state} callbacks={props} />
      <ModelSection model={state.model} />
    </section>
  );
}
