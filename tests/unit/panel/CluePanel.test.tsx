// The panel rendered to HTML with React's server renderer: what it shows for each state,
// under the data-testids the e2e tests use.
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { CluePanel } from '../../../extension/src/panel/CluePanel';
import { createClueStore, type SliceResult } from '../../../extension/src/state';

const noop = () => {};

function render(store = createClueStore()) {
  return renderToStaticMarkup(<CluePanel store={store} onRun={noop} onThresholdChange={noop} onClear={noop} />);
}

const result: SliceResult = {
  segmentationId: 'clue-anomaly::ds',
  viewportId: 'default',
  displaySetInstanceUID: 'ds',
  imageId: 'wadors:x',
  labelmapImageId: 'derived:y',
  rows: 185,
  columns: 150,
  mapName: 'placeholderIntensityMap',
  threshold: 0.5,
  voxelCount: 1267,
  score: 0.785,
  mapMin: 0,
  mapMax: 0.79,
  modalityLut: { slope: 0.5, intercept: 0, appliedByLoader: true },
  durationMs: 117.4,
};

describe('CluePanel', () => {
  it('idle: run button, status, threshold, no result and no error', () => {
    const html = render();
    expect(html).toContain('data-testid="clue-run-button"');
    expect(html).toContain('data-status="idle"');
    expect(html).toContain('data-testid="clue-threshold-value">0.50<');
    expect(html).not.toContain('data-testid="clue-result"');
    expect(html).not.toContain('data-testid="clue-error"');
  });

  it('done: shows the result read from the store', () => {
    const store = createClueStore();
    store.setState({ status: 'done', lastResult: result, message: 'Labelmap written: 1267 voxels at threshold 0.50.' });
    const html = render(store);
    expect(html).toContain('data-testid="clue-result-voxels">1267<');
    expect(html).toContain('data-testid="clue-result-segmentation-id">clue-anomaly::ds<');
    expect(html).toContain('data-testid="clue-result-score">0.785<');
    expect(html).toContain('data-testid="clue-placeholder-note"');
    expect(html).toContain('(applied by the loader)');
  });

  it('running: the run button is disabled', () => {
    const store = createClueStore();
    store.setState({ status: 'running' });
    expect(render(store)).toMatch(/<button[^>]*disabled=""[^>]*data-testid="clue-run-button"/);
  });

  it('error: shows the message as an alert', () => {
    const store = createClueStore();
    store.setState({ status: 'error', error: 'The displayed image is a colour image (3 components); CLUE needs greyscale.' });
    const html = render(store);
    expect(html).toContain('role="alert" data-testid="clue-error">The displayed image is a colour image');
  });
});
