// The panel rendered to HTML with React's server renderer: what it shows for each state,
// under the data-testids the e2e tests use.
import { describe, expect, it } from 'vitest';
import { createClueStore, type ResultSummary } from '../../../extension/src/service/state';
import { checkDomain } from '../../../extension/src/domain/domain';
import { renderPanel } from './renderPanel';

const result: ResultSummary = {
  segmentationId: 'clue-anomaly::ds',
  viewportId: 'default',
  displaySetInstanceUID: 'ds',
  imageId: 'wadors:x',
  labelmapImageId: 'derived:y',
  rows: 185,
  columns: 150,
  mapName: 'clue-demo-t1-axial 0.1.0',
  threshold: 0.5,
  voxelCount: 1267,
  score: 0.785,
  mapMin: 0,
  mapMax: 0.79,
  modalityLut: { slope: 0.5, intercept: 0, appliedByLoader: true },
  timings: { preprocessMs: 3.2, inferenceMs: 412.6, postprocessMs: 1.1 },
  durationMs: 457.4,
  domain: checkDomain(undefined, {
    modality: 'MR',
    bodyPartExamined: 'BRAIN',
    seriesDescription: 'T1 axial',
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    pixelSpacing: [1, 1],
  }),
};

const DEMO_DOMAIN = {
  modality: ['MR'],
  body_part: ['BRAIN', 'HEAD'],
  sequences: ['T1' as const],
  planes: ['axial' as const],
  pixel_spacing_mm: [0.5, 2] as [number, number],
  note: 'one synthetic brain',
};

describe('CluePanel', () => {
  it('idle: run buttons, status, threshold, legend, model not loaded, no result and no error', () => {
    const html = renderPanel();
    expect(html).toContain('data-testid="clue-run-button"');
    expect(html).toContain('data-testid="clue-run-series-button"');
    expect(html).toContain('data-status="idle"');
    expect(html).toContain('data-testid="clue-threshold-value">0.50<');
    expect(html).toContain('data-testid="clue-legend"');
    expect(html).toContain('data-testid="clue-opacity-value">60%<');
    expect(html).toContain('data-model-status="not-loaded"');
    expect(html).toContain('Loaded on the first run from /models/demo/manifest.json');
    expect(html).toContain('data-testid="clue-no-result"');
    expect(html).not.toContain('data-testid="clue-result"');
    expect(html).not.toContain('data-testid="clue-error"');
    expect(html).not.toContain('data-testid="clue-cancel-button"');
  });

  it('done: shows the displayed slice’s result with score and stage timings', () => {
    const store = createClueStore();
    store.setState({ status: 'done', lastResult: result, displayedResult: result, message: 'Map computed.' });
    const html = renderPanel(store);
    expect(html).toContain('data-testid="clue-result-voxels">1267<');
    expect(html).toContain('data-testid="clue-result-segmentation-id">clue-anomaly::ds<');
    expect(html).toContain('data-testid="clue-result-score">0.785<');
    expect(html).toContain('pre 3 ms · infer 413 ms · post 1 ms');
    expect(html).toContain('data-testid="clue-result-duration">457 ms<');
    expect(html).toContain('(applied by the loader)');
  });

  it('loading: byte progress of the model', () => {
    const store = createClueStore();
    store.setState((s) => ({
      model: {
        ...s.model,
        status: 'loading',
        phase: 'download',
        loadedBytes: 3 * 1024 * 1024,
        totalBytes: 12 * 1024 * 1024,
      },
    }));
    const html = renderPanel(store);
    expect(html).toContain('Loading (download): 3.0 MB of 12.0 MB');
    expect(html).toMatch(/<progress[^>]*max="12582912" value="3145728"/);
  });

  it('ready: backend, threads, source of the model and why other backends were skipped', () => {
    const store = createClueStore();
    store.setState((s) => ({
      model: {
        ...s.model,
        status: 'ready',
        modelId: 'clue-demo',
        modelVersion: '0.1.0',
        backend: 'wasm',
        threads: 2,
        skipped: [{ backend: 'webgpu', reason: 'requestAdapter() returned no adapter' }],
        fromCache: true,
        modelBytes: 2048,
        loadMs: 120,
      },
    }));
    const html = renderPanel(store);
    expect(html).toContain('data-testid="clue-model-backend">wasm (2 threads)<');
    expect(html).toContain('2 kB from the browser cache in 120 ms');
    expect(html).toContain('webgpu not used: requestAdapter() returned no adapter');
  });

  it('ready: the model’s validated domain, or that it declares none', () => {
    const store = createClueStore();
    const ready = {
      status: 'ready' as const,
      modelId: 'clue-demo',
      modelVersion: '0.1.0',
      backend: 'wasm',
      threads: 1,
      fromCache: false,
      modelBytes: 1,
      loadMs: 1,
    };
    store.setState((s) => ({ model: { ...s.model, ...ready, domain: DEMO_DOMAIN } }));
    let html = renderPanel(store);
    expect(html).toMatch(
      /data-testid="clue-model-domain" data-domain-declared="true">MR, body part BRAIN or HEAD, T1, axial, pixel spacing 0\.5–2\.0 mm<div[^>]*>one synthetic brain</,
    );
    store.setState((s) => ({ model: { ...s.model, domain: null } }));
    html = renderPanel(store);
    expect(html).toContain('data-domain-declared="false">validated domain not declared');
  });

  it('a result outside the validated domain carries a caution naming what is outside and why', () => {
    const store = createClueStore();
    const ct = checkDomain(DEMO_DOMAIN, {
      modality: 'CT',
      bodyPartExamined: 'HEAD',
      imageOrientationPatient: [1, 0, 0, 0, 1, 0],
      pixelSpacing: [1, 1],
    });
    store.setState({
      status: 'done',
      lastResult: { ...result, domain: ct },
      displayedResult: { ...result, domain: ct },
    });
    const html = renderPanel(store);
    expect(html).toContain('data-domain-status="outside"');
    expect(html).toMatch(
      /role="alert" data-testid="clue-domain-caution"><strong>Outside the model’s validated domain<\/strong><ul[^>]*><li data-domain-field="modality">CT: this model was validated on MR only — [^<]*read this map with caution\.<\/li><\/ul>/,
    );
    expect(html).toContain('data-testid="clue-result-acquisition">CT, HEAD, axial, 1.0 × 1.0 mm<');
  });

  it('a result inside the domain says so; untold parts are listed as not checked; no domain: not checked against one', () => {
    const store = createClueStore();
    const inside = checkDomain(DEMO_DOMAIN, {
      modality: 'MR',
      bodyPartExamined: 'BRAIN',
      seriesDescription: 'T1 axial',
      imageOrientationPatient: [1, 0, 0, 0, 1, 0],
      pixelSpacing: [1, 1],
    });
    store.setState({ status: 'done', displayedResult: { ...result, domain: inside } });
    let html = renderPanel(store);
    expect(html).toContain('data-domain-status="inside"');
    expect(html).toContain('Within the model’s validated domain.');
    expect(html).not.toContain('clue-domain-caution');
    const untold = checkDomain(DEMO_DOMAIN, {
      modality: 'MR',
      seriesDescription: 'Ax 3D',
      imageOrientationPatient: [1, 0, 0, 0, 1, 0],
      pixelSpacing: [1, 1],
    });
    store.setState({ displayedResult: { ...result, domain: untold } });
    html = renderPanel(store);
    expect(html).toContain('data-domain-status="partly-checked"');
    expect(html).toContain(
      '<li data-domain-field="body_part">Body part not checked: the slice has no BodyPartExamined.</li>',
    );
    expect(html).toContain(
      '<li data-domain-field="sequence">Sequence not checked: SeriesDescription “Ax 3D” names no sequence',
    );
    expect(html).not.toContain('clue-domain-caution');
    store.setState({ displayedResult: result });
    html = renderPanel(store);
    expect(html).toContain(
      'data-domain-status="undeclared">Not checked against a validated domain: the model declares none.<',
    );
    expect(html).toContain('data-testid="clue-result-acquisition">MR, BRAIN, T1, axial, 1.0 × 1.0 mm<');
  });

  it('running a series: progress and a cancel button instead of clear', () => {
    const store = createClueStore();
    store.setState({
      status: 'running',
      series: { status: 'running', displaySetInstanceUID: 'ds', total: 160, done: 12, computed: 10, blank: 0 },
    });
    const html = renderPanel(store);
    expect(html).toContain('data-testid="clue-cancel-button"');
    expect(html).not.toContain('data-testid="clue-clear-button"');
    expect(html).toMatch(/<progress[^>]*max="160" value="12"[^>]*data-testid="clue-series-progress"/);
    expect(html).toContain('Series running: 12 of 160 slices (10 computed in this run)');
    expect(html).toMatch(/<button[^>]*disabled=""[^>]*data-testid="clue-run-series-button"/);

    // Blank slices (not run) so far are counted beside the computed ones.
    store.setState((s) => ({ series: { ...s.series, blank: 2 } }));
    expect(renderPanel(store)).toContain('Series running: 12 of 160 slices (10 computed in this run, 2 blank not run)');
  });

  it('error: shows the message as an alert, and the model error in its section', () => {
    const store = createClueStore();
    store.setState((s) => ({
      status: 'error',
      error: 'The model file does not match its manifest and was not used: …',
      model: { ...s.model, status: 'error', error: 'The model file does not match its manifest and was not used: …' },
    }));
    const html = renderPanel(store);
    expect(html).toContain('role="alert" data-testid="clue-error">The model file does not match');
    expect(html).toContain('data-testid="clue-model-error">The model file does not match');
  });
});
