// The panel's "Compare with ground truth" and "Save results" sections rendered to HTML: the
// displayed slice's and the series' numbers from the store, the stale note after a threshold
// move, the plots, and the save messages.
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { computeGroundTruthMetrics } from '../../../extension/src/metrics';
import { CluePanel } from '../../../extension/src/panel/CluePanel';
import { createClueStore, type SliceResult } from '../../../extension/src/state';

const noop = () => {};
const render = (store: ReturnType<typeof createClueStore>) =>
  renderToStaticMarkup(
    <CluePanel store={store} onRun={noop} onRunSeries={noop} onCancel={noop} onThresholdChange={noop} onOpacityChange={noop} onClear={noop} />,
  );

/** The text of the element with `testid` (no nested tags in these cells). */
function cell(html: string, testid: string): string | null {
  return new RegExp(`data-testid="${testid}"[^>]*>([^<]*)<`).exec(html)?.[1] ?? null;
}

function displayed(imageId: string): SliceResult {
  return {
    segmentationId: 'clue-anomaly::ds', viewportId: 'vp', displaySetInstanceUID: 'ds', imageId, labelmapImageId: 'lm', rows: 2, columns: 2,
    mapName: 'm 1', threshold: 0.5, voxelCount: 1, score: 0.7, mapMin: 0, mapMax: 1,
    modalityLut: { slope: 1, intercept: 0, appliedByLoader: false }, timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 }, durationMs: 0,
  };
}

describe('CluePanel: ground truth and save sections', () => {
  it('shows the displayed slice and the series, the plots and export buttons', () => {
    // Slice a: map [0.9, 0.2, 0.6, 0.1] vs truth [1, 0, 0, 0] → at 0.5: TP 1, FP 1 → Dice 2/3, IoU 1/2, AUROC 1.
    const metrics = computeGroundTruthMetrics(
      [
        { sopInstanceUID: 'a', map: Float32Array.of(0.9, 0.2, 0.6, 0.1), groundTruth: Uint8Array.of(1, 0, 0, 0), imageScore: 0.8 },
        { sopInstanceUID: 'b', map: Float32Array.of(0.1, 0.2, 0.3, 0.4), groundTruth: Uint8Array.of(0, 0, 0, 0), imageScore: 0.1 },
      ],
      0.5,
    );
    const store = createClueStore();
    store.setState((s) => ({
      threshold: 0.5,
      displayedResult: displayed('img-a'),
      comparison: {
        ...s.comparison, status: 'done', candidates: [{ segmentationId: 'seg', label: 'Lesion SEG', segments: [{ segmentIndex: 1, label: 'Lesion' }] }],
        segmentationId: 'seg', segmentIndex: 1, groundTruthLabel: 'Lesion SEG (Lesion)', displaySetInstanceUID: 'ds',
        sliceImageIds: ['img-a', 'img-b'], coveredSlices: 1, metrics, computeMs: 0, ranInWorker: true, message: 'Compared 2 slice(s)',
      },
    }));
    let html = render(store);
    expect(html).toContain('data-gt-status="done"');
    expect(html).toContain('>Lesion SEG</option>');
    expect(html).toContain('>Lesion</option>');
    expect(cell(html, 'clue-gt-slice-dice')).toBe('0.667');
    expect(cell(html, 'clue-gt-slice-iou')).toBe('0.500');
    expect(cell(html, 'clue-gt-slice-auroc')).toBe('1.000');
    expect(cell(html, 'clue-gt-slice-image')).toBe('0.800 vs abnormal');
    expect(cell(html, 'clue-gt-series-dice')).toBe(metrics.series!.dice.toFixed(3));
    expect(cell(html, 'clue-gt-series-image')).toBe('AUROC 1.000');
    expect(html).toContain('data-testid="clue-gt-roc"');
    expect(html).toContain('data-testid="clue-gt-dice-curve"');
    expect(html).toContain('data-testid="clue-gt-export-csv"');
    expect(html).not.toContain('data-testid="clue-gt-stale"');

    // Scrolled to slice b, threshold moved: b's numbers and a note that Compare must rerun.
    store.setState({ displayedResult: displayed('img-b'), threshold: 0.3 });
    html = render(store);
    expect(cell(html, 'clue-gt-slice-image')).toBe('0.100 vs normal');
    expect(cell(html, 'clue-gt-slice-auroc')).toBe('—');
    expect(html).toContain('data-testid="clue-gt-stale"');
  });

  it('save: buttons, the message and a failure in an alert', () => {
    const store = createClueStore();
    let html = render(store);
    for (const id of ['clue-download-seg', 'clue-download-pmap', 'clue-store-pacs']) expect(html).toContain(`data-testid="${id}"`);
    store.setState({ save: { status: 'error', message: 'The map is still in the viewer.', error: 'Store to PACS incomplete (HTTP 409): SEG failed', stored: [] } });
    html = render(store);
    expect(html).toContain('data-save-status="error"');
    expect(cell(html, 'clue-save-error')).toBe('Store to PACS incomplete (HTTP 409): SEG failed');
  });
});
