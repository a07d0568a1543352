// The panel's "Compare with ground truth" and "Save results" sections rendered to HTML: the
// displayed slice's and the series' numbers from the store, labelled with the threshold they were
// taken at (the store's comparison follows the slider: tests/unit/panel/gtThreshold.test.tsx),
// the plots with the current-threshold marker, and the save messages.
import { describe, expect, it } from 'vitest';
import { metricsAtThreshold, prepareComparison } from '../../../extension/src/metrics';
import { createClueStore, type ResultSummary } from '../../../extension/src/service/state';
import { checkDomain } from '../../../extension/src/domain/domain';
import { renderPanel } from './renderPanel';

/** The text of the element with `testid` (no nested tags in these cells). */
function cell(html: string, testid: string): string | null {
  return new RegExp(`data-testid="${testid}"[^>]*>([^<]*)<`).exec(html)?.[1] ?? null;
}

function displayed(imageId: string): ResultSummary {
  return {
    segmentationId: 'clue-anomaly::ds',
    viewportId: 'vp',
    displaySetInstanceUID: 'ds',
    imageId,
    labelmapImageId: 'lm',
    rows: 2,
    columns: 2,
    mapName: 'm 1',
    threshold: 0.5,
    voxelCount: 1,
    score: 0.7,
    mapMin: 0,
    mapMax: 1,
    modalityLut: { slope: 1, intercept: 0, appliedByLoader: false },
    timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 },
    durationMs: 0,
    domain: checkDomain(undefined, {}),
  };
}

describe('CluePanel: ground truth and save sections', () => {
  it('shows the displayed slice and the series, the plots and export buttons', () => {
    // Slice a: map [0.9, 0.2, 0.6, 0.1] vs truth [1, 0, 0, 0] → at 0.5: TP 1, FP 1 → Dice 2/3, IoU 1/2, AUROC 1.
    const prepared = prepareComparison([
      {
        sopInstanceUID: 'a',
        map: Float32Array.of(0.9, 0.2, 0.6, 0.1),
        groundTruth: Uint8Array.of(1, 0, 0, 0),
        imageScore: 0.8,
      },
      {
        sopInstanceUID: 'b',
        map: Float32Array.of(0.1, 0.2, 0.3, 0.4),
        groundTruth: Uint8Array.of(0, 0, 0, 0),
        imageScore: 0.1,
      },
    ]);
    const metrics = metricsAtThreshold(prepared, 0.5);
    const store = createClueStore();
    store.setState((s) => ({
      threshold: 0.5,
      displayedResult: displayed('img-a'),
      comparison: {
        ...s.comparison,
        status: 'done',
        candidates: [
          {
            segmentationId: 'seg',
            label: 'Lesion SEG',
            segments: [{ segmentIndex: 1, label: 'Lesion' }],
            source: 'host',
          },
        ],
        segmentationId: 'seg',
        segmentIndex: 1,
        groundTruthLabel: 'Lesion SEG (Lesion)',
        displaySetInstanceUID: 'ds',
        sliceImageIds: ['img-a', 'img-b'],
        coveredSlices: 1,
        metrics,
        computeMs: 0,
        ranInWorker: true,
        message: 'Compared 2 slice(s)',
      },
    }));
    let html = renderPanel(store);
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
    expect(cell(html, 'clue-gt-dice-header')).toBe('Dice @ 0.50');
    expect(html).toContain('data-testid="clue-gt-dice-marker" data-threshold="0.5"');

    // Scrolled to slice b, threshold moved to 0.3 (the comparison's numbers with it): b's
    // numbers at 0.3 (predicted 0.3 (float32) and 0.4 on an empty truth → Dice 0), the series'
    // (TP 1, predicted 4 → Dice 2/5), labelled and marked at 0.3; no note asking for a rerun.
    store.setState((s) => ({
      displayedResult: displayed('img-b'),
      threshold: 0.3,
      comparison: { ...s.comparison, metrics: metricsAtThreshold(prepared, 0.3) },
    }));
    html = renderPanel(store);
    expect(cell(html, 'clue-gt-slice-image')).toBe('0.100 vs normal');
    expect(cell(html, 'clue-gt-slice-auroc')).toBe('—');
    expect(cell(html, 'clue-gt-slice-dice')).toBe('0.000');
    expect(cell(html, 'clue-gt-series-dice')).toBe('0.400');
    expect(cell(html, 'clue-gt-series-auroc')).toBe('1.000');
    expect(cell(html, 'clue-gt-dice-header')).toBe('Dice @ 0.30');
    expect(html).toContain('data-testid="clue-gt-dice-marker" data-threshold="0.3" data-dice="0.4"');
    expect(html).not.toContain('stale');
  });

  it('save: buttons, the message and a failure in an alert', () => {
    const store = createClueStore();
    let html = renderPanel(store);
    for (const id of ['clue-download-seg', 'clue-download-pmap', 'clue-store-pacs'])
      expect(html).toContain(`data-testid="${id}"`);
    store.setState({
      save: {
        status: 'error',
        message: 'The map is still in the viewer.',
        error: 'Store to PACS incomplete (HTTP 409): SEG failed',
        stored: [],
      },
    });
    html = renderPanel(store);
    expect(html).toContain('data-save-status="error"');
    expect(cell(html, 'clue-save-error')).toBe('Store to PACS incomplete (HTTP 409): SEG failed');
  });
});
