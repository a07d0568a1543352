// The workflow commands against a host made of plain data with the shapes our viewer/ code
// reads (OHIF services, Cornerstone cache and voxel managers), and a slice mapper whose
// answers the test controls. What is under test is ours: result keeping, re-thresholding
// stored maps, cancellation, series runs, clean-up. The real engine and the real viewer are
// covered by tests/unit/engine and the e2e `workflow` scenario.
import { describe, expect, it } from 'vitest';
import { createClueService } from '../../../extension/src/service/ClueService';
import type { IdleScheduler } from '../../../extension/src/service/labelmapSync';
import type { EngineInfo } from '../../../extension/src/engine';
import { EngineError } from '../../../extension/src/engine/errors';
import {
  createMapperRegistry,
  type MapperRegistry,
  type SliceForMapping,
  type SliceMapper,
} from '../../../extension/src/service/sliceMapper';
import { createClueStore } from '../../../extension/src/service/state';
import type { HostExtensionParams } from '../../../extension/src/viewer/hostTypes';
import { fakeSegmentationService, voxels } from './fakeHostParts';

const SIZE = 16;
const SLICES = 5;

function fakeHost(options: { modality?: string; instance?: (imageId: string) => Record<string, unknown> } = {}) {
  const images = new Map<string, any>();
  const imageIds = Array.from({ length: SLICES }, (_, k) => `img:${k}`);
  imageIds.forEach((imageId, k) => {
    // Slice k: a ramp whose values grow with k, so every slice has its own map.
    const data = Float32Array.from({ length: SIZE * SIZE }, (_, i) => (i % SIZE) + k * 3);
    images.set(imageId, { imageId, rows: SIZE, columns: SIZE, voxelManager: voxels(data) });
  });
  const displaySet = { displaySetInstanceUID: 'ds', imageIds, Modality: options.modality ?? 'MR' };
  let current = 2;
  let renders = 0;
  const viewport = {
    id: 'vp',
    type: 'stack',
    getCurrentImageId: () => imageIds[current],
    getImageIds: () => imageIds,
    worldToCanvas: () => [0, 0] as [number, number],
    render: () => {
      renders++;
    },
  };
  const segmentations = new Map<string, any>([
    ['user-seg', { segmentationId: 'user-seg', label: 'mine', representationData: {} }],
  ]);
  let modifiedEvents = 0;
  const { service: segmentationService } = fakeSegmentationService({
    images,
    segmentations,
    rows: SIZE,
    columns: SIZE,
    labelmapId: (_segmentationId, id) => `lm:${id}`,
  });
  const libraries = {
    cornerstone: {
      cache: { getImage: (id: string) => images.get(id) },
      metaData: {
        get: (type: string, imageId: string) => {
          if (type === 'instance') return options.instance?.(imageId);
          // What OHIF's imagePlaneModule gives an image without orientation or PixelSpacing.
          if (type === 'imagePlaneModule')
            return { rowCosines: [1, 0, 0], columnCosines: [0, 1, 0], rowPixelSpacing: 1, columnPixelSpacing: 1 };
          return undefined;
        },
      },
      imageLoader: { loadAndCacheImage: async (id: string) => images.get(id) },
      utilities: { imageToWorldCoords: () => [0, 0, 0] },
      eventTarget: new EventTarget(),
      getEnabledElement: () => undefined,
      Enums: { ViewportType: { STACK: 'stack' }, Events: { IMAGE_RENDERED: 'rendered', ELEMENT_ENABLED: 'enabled' } },
    },
    cornerstoneTools: {
      Enums: { SegmentationRepresentations: { Labelmap: 'Labelmap' } },
      segmentation: { triggerSegmentationEvents: { triggerSegmentationDataModified: () => void modifiedEvents++ } },
    },
  };
  const params = {
    servicesManager: {
      services: {
        segmentationService,
        viewportGridService: {
          getActiveViewportId: () => 'vp',
          getState: () => ({
            activeViewportId: 'vp',
            viewports: new Map([['vp', { displaySetInstanceUIDs: ['ds'] }]]),
          }),
        },
        cornerstoneViewportService: { getCornerstoneViewport: () => viewport },
        displaySetService: { getDisplaySetByUID: (uid: string) => (uid === 'ds' ? displaySet : undefined) },
      },
    },
    extensionManager: { getModuleEntry: () => ({ exports: { getCornerstoneLibraries: () => libraries } }) },
    commandsManager: { runCommand: () => undefined },
  } as unknown as HostExtensionParams;

  /** Our segment's voxels on the labelmap image of source slice k. */
  const labelmapCount = (k: number) => {
    const image = images.get(`lm:${imageIds[k]}`);
    return image ? [...image.voxelManager.getScalarData()].filter((v: number) => v === 1).length : 0;
  };
  return {
    params,
    imageIds,
    segmentations,
    labelmapCount,
    scrollTo: (k: number) => {
      current = k;
    },
    counters: () => ({ renders, modifiedEvents }),
  };
}

/** The map our fake model gives: the slice's values scaled to [0, 1] by a fixed 60. */
function expectedMap(values: Float32Array): Float32Array {
  return Float32Array.from(values, (v) => Math.min(1, v / 60));
}

function countAbove(map: Float32Array, t: number) {
  return map.filter((v) => v >= Math.fround(t)).length;
}

interface Pending {
  slice: SliceForMapping;
  resolve(): void;
}

/** A mapper whose computes wait until the test releases them (or answer at once). */
function controlledRegistry(options: { manual?: boolean; threshold?: number; domain?: Record<string, unknown> } = {}) {
  const pending: Pending[] = [];
  let computes = 0;
  const info = {
    backend: 'wasm',
    threads: 2,
    skipped: [{ backend: 'webgpu', reason: 'no adapter' }],
    modelId: 'fake',
    modelVersion: '1',
    fromCache: false,
    networkBytes: 10,
    modelBytes: 10,
    totalMs: 5,
    cacheProblem: null,
    manifest: {
      threshold: { default: options.threshold ?? 0.5 },
      ...(options.domain ? { domain: options.domain } : {}),
    },
  } as unknown as EngineInfo;
  const mapper: SliceMapper = {
    name: 'fake 1',
    info,
    compute(slice, signal) {
      computes++;
      const answer = () => ({
        map: expectedMap(slice.values),
        score: 0.25,
        timings: { preprocessMs: 1, inferenceMs: 2, postprocessMs: 3 },
      });
      if (!options.manual) return Promise.resolve(answer());
      return new Promise((resolve, reject) => {
        signal?.addEventListener('abort', () => reject(new DOMException('cancelled', 'AbortError')));
        pending.push({ slice, resolve: () => resolve(answer()) });
      });
    },
  };
  const registry: MapperRegistry = { get: async () => mapper, disposeAll: () => {} };
  return { registry, pending, computes: () => computes, registryInfo: info };
}

/** Collects idle tasks so the test decides when the browser is "idle". */
function manualScheduler() {
  const tasks: Array<() => void> = [];
  const schedule: IdleScheduler = (task) => void tasks.push(task);
  const flush = () => {
    while (tasks.length) tasks.shift()!();
  };
  return { schedule, flush };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('workflow commands', () => {
  it('runs the model on the displayed slice, writes our labelmap and keeps the result', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const model = controlledRegistry({ threshold: 0.3 });
    const actions = createClueService(host.params, store, model.registry);
    await actions.runOnSlice();
    const state = store.getState();
    expect(state.status).toBe('done');
    expect(state.model).toMatchObject({ status: 'ready', backend: 'wasm', threads: 2, modelId: 'fake' });
    expect(state.model.skipped).toEqual([{ backend: 'webgpu', reason: 'no adapter' }]);
    expect(state.threshold).toBe(0.3); // the manifest's default
    const map = expectedMap(Float32Array.from({ length: SIZE * SIZE }, (_, i) => (i % SIZE) + 6));
    expect(host.labelmapCount(2)).toBe(countAbove(map, 0.3));
    expect(state.lastResult).toMatchObject({
      imageId: 'img:2',
      voxelCount: countAbove(map, 0.3),
      score: 0.25,
      mapName: 'fake 1',
    });
    expect(state.lastResult!.timings).toEqual({ preprocessMs: 1, inferenceMs: 2, postprocessMs: 3 });
    expect(state.modelRuns).toBe(1);

    await actions.runOnSlice(); // the same slice again: shown from the store, not recomputed
    expect(model.computes()).toBe(1);
    expect(store.getState().message).toMatch(/already computed/);
  });

  it('checks each result against the manifest’s domain, from the DICOM attributes (not the host’s stand-in geometry)', async () => {
    // A chest radiograph: no ImageOrientationPatient, no PixelSpacing, ScanningSequence absent.
    const radiograph = (imageId: string) => ({
      SOPInstanceUID: imageId,
      Modality: 'DX',
      BodyPartExamined: 'CHEST',
      SeriesDescription: 'PA',
    });
    const host = fakeHost({ modality: 'DX', instance: radiograph });
    const store = createClueStore();
    const domain = { modality: ['MR'], body_part: ['BRAIN'], planes: ['axial'], pixel_spacing_mm: [0.5, 2] };
    const actions = createClueService(host.params, store, controlledRegistry({ domain }).registry);
    await actions.runOnSlice();
    const state = store.getState();
    expect(state.model.domain).toEqual(domain);
    const check = state.lastResult!.domain;
    expect(check.findings.map((f) => [f.field, f.status])).toEqual([
      ['modality', 'outside'],
      ['body_part', 'outside'],
      ['plane', 'not-checked'],
      ['pixel_spacing', 'not-checked'],
    ]);
    expect(state.message).toMatch(/outside the model’s validated domain/);
    // Every slice of a series run is checked too.
    await actions.runOnSeries();
    expect(store.getState().series.status).toBe('done');
    expect(store.getState().lastResult!.domain.slice.modality).toBe('DX');

    // An MR slice in the domain: strings as DICOMweb JSON may carry them, multi-valued ScanningSequence.
    const mr = (imageId: string) => ({
      SOPInstanceUID: imageId,
      Modality: 'MR',
      BodyPartExamined: 'BRAIN',
      SeriesDescription: 'T1 axial',
      ScanningSequence: ['SE', 'IR'],
      ImageOrientationPatient: ['1', '0', '0', '0', '1', '0'],
      PixelSpacing: ['0.9', '0.9'],
    });
    const mrStore = createClueStore();
    await createClueService(
      fakeHost({ instance: mr }).params,
      mrStore,
      controlledRegistry({ domain }).registry,
    ).runOnSlice();
    const inside = mrStore.getState().lastResult!.domain;
    expect(inside.findings.every((f) => f.status === 'inside')).toBe(true);
    expect(inside.slice).toMatchObject({ modality: 'MR', plane: 'axial', pixelSpacingMm: [0.9, 0.9], sequence: 'T1' });
    expect(mrStore.getState().message).not.toMatch(/outside/);

    // A model without a domain: declared false, the panel says so.
    const plain = createClueStore();
    await createClueService(fakeHost({ instance: mr }).params, plain, controlledRegistry().registry).runOnSlice();
    expect(plain.getState().model.domain).toBeNull();
    expect(plain.getState().lastResult!.domain).toMatchObject({ declared: false, findings: [] });
  });

  it('keeps a threshold the user chose over the manifest’s default', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const actions = createClueService(host.params, store, controlledRegistry({ threshold: 0.3 }).registry);
    actions.setThreshold({ threshold: 0.7 });
    await actions.runOnSlice();
    expect(store.getState().threshold).toBe(0.7);
  });

  it('re-thresholds every stored slice without running the model: on screen at once, the rest when idle', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const model = controlledRegistry();
    const idle = manualScheduler();
    const actions = createClueService(host.params, store, model.registry, idle.schedule);
    await actions.runOnSeries();
    expect(store.getState().series).toMatchObject({ status: 'done', total: SLICES, done: SLICES, computed: SLICES });
    expect(model.computes()).toBe(SLICES);
    const maps = host.imageIds.map((_, k) =>
      expectedMap(Float32Array.from({ length: SIZE * SIZE }, (_, i) => (i % SIZE) + k * 3)),
    );

    const previous = maps.map((_, k) => host.labelmapCount(k));
    for (const t of [0.2, 0.35, 0.5]) {
      actions.setThreshold({ threshold: t });
      expect(host.labelmapCount(2)).toBe(countAbove(maps[2]!, t)); // displayed: immediately
      idle.flush();
      maps.forEach((map, k) => {
        expect(host.labelmapCount(k)).toBe(countAbove(map, t));
      });
    }
    expect(maps.map((_, k) => host.labelmapCount(k)).every((n, k) => n <= previous[k]!)).toBe(true);
    expect(model.computes()).toBe(SLICES);
    expect(store.getState().modelRuns).toBe(SLICES);
  });

  it('a slice scrolled to before the idle catch-up reaches it is re-thresholded when shown', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const idle = manualScheduler();
    const actions = createClueService(host.params, store, controlledRegistry().registry, idle.schedule);
    await actions.runOnSeries();
    actions.setThreshold({ threshold: 0.1 });
    const before = host.labelmapCount(4);
    host.scrollTo(4);
    // What the overlay does on each render of the viewport: look up and show the stored result.
    await actions.runOnSlice();
    expect(host.labelmapCount(4)).toBeGreaterThan(before);
    expect(store.getState().displayedResult).toMatchObject({ imageId: 'img:4', threshold: 0.1 });
  });

  it('a second run cancels the first: only the newer one writes', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const model = controlledRegistry({ manual: true, threshold: 0.3 });
    const actions = createClueService(host.params, store, model.registry);
    const first = actions.runOnSlice();
    await settle();
    host.scrollTo(3);
    const second = actions.runOnSlice();
    await settle();
    expect(model.pending.length).toBe(2);
    model.pending[0]!.resolve(); // the first's answer arrives late: dropped
    model.pending[1]!.resolve();
    await Promise.all([first, second]);
    const state = store.getState();
    expect(state.status).toBe('done');
    expect(state.modelRuns).toBe(1);
    expect(state.lastResult!.imageId).toBe('img:3');
    expect(host.labelmapCount(2)).toBe(0);
    expect(host.labelmapCount(3)).toBeGreaterThan(0);
  });

  it('cancelling a series keeps what was computed and writes nothing after', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const model = controlledRegistry({ manual: true });
    const actions = createClueService(host.params, store, model.registry);
    const run = actions.runOnSeries();
    for (let k = 0; k < 2; k++) {
      while (model.pending.length <= k) await settle();
      model.pending[k]!.resolve();
    }
    while (model.pending.length < 3) await settle();
    expect(store.getState().series).toMatchObject({ status: 'running', done: 2, computed: 2 });
    actions.cancel();
    model.pending[2]!.resolve();
    await run;
    const state = store.getState();
    expect(state.series).toMatchObject({ status: 'cancelled', done: 2 });
    expect(state.status).toBe('idle');
    expect(state.modelRuns).toBe(2);
    expect(host.labelmapCount(2)).toBe(0);
    // The kept slices come back without a run.
    host.scrollTo(0);
    await actions.runOnSlice();
    expect(model.pending.length).toBe(3);
    expect(store.getState().message).toMatch(/already computed/);
  });

  it('hears removals again after the host dropped its subscribers on mode exit, and never trusts a stale map', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const model = controlledRegistry();
    const service = createClueService(host.params, store, model.registry);
    const segmentationService = host.params.servicesManager.services.segmentationService as unknown as {
      reset(): void;
      remove(id: string): void;
    };
    service.onModeEnter();
    await service.runOnSlice();
    const segmentationId = store.getState().lastResult!.segmentationId;
    // Mode exit and a new entry: the host's service forgets every subscriber, we subscribe again.
    segmentationService.reset();
    service.onModeEnter();
    segmentationService.remove(segmentationId);
    expect(service.inspectStoredMap('img:2')).toBeNull();

    // A removal we do not hear of (subscribers dropped, no entry since): nothing throws, the
    // stale maps go at the next threshold move, and the slice is computed again.
    await service.runOnSlice();
    const again = store.getState().lastResult!.segmentationId;
    segmentationService.reset();
    segmentationService.remove(again);
    expect(service.inspectStoredMap('img:2')).not.toBeNull(); // not heard
    service.setThreshold({ threshold: 0.4 });
    expect(store.getState().error).toBeNull();
    expect(service.inspectStoredMap('img:2')).toBeNull();
    await service.runOnSlice();
    expect(model.computes()).toBe(3);
    expect(store.getState().message).not.toMatch(/already computed/);
  });

  it('a model load that finishes after the mode was left does not mark the model ready', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const model = controlledRegistry();
    let release: () => void = () => {};
    const registry = {
      get: (...args: Parameters<typeof model.registry.get>) =>
        new Promise<Awaited<ReturnType<typeof model.registry.get>>>((resolve) => {
          release = () => resolve(model.registry.get(...args));
        }),
      disposeAll: () => {},
    };
    const service = createClueService(host.params, store, registry);
    const run = service.runOnSlice();
    await settle();
    expect(store.getState().model.status).toBe('loading');
    service.dispose(); // mode exit while loading
    release();
    await run;
    expect(store.getState().model.status).toBe('not-loaded');
    expect(store.getState().status).toBe('idle');
  });

  it('is created before the host’s SegmentationService exists (extensions register in any order)', async () => {
    const host = fakeHost();
    const services = host.params.servicesManager.services as unknown as Record<string, unknown>;
    const segmentationService = services.segmentationService;
    delete services.segmentationService;
    const store = createClueStore();
    const service = createClueService(host.params, store, controlledRegistry().registry);
    services.segmentationService = segmentationService; // the cornerstone extension registered it later
    await service.runOnSlice();
    expect(store.getState().status).toBe('done');
  });

  it('the user removing our segmentation drops its stored maps (from the host’s removal event)', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const model = controlledRegistry();
    const service = createClueService(host.params, store, model.registry);
    await service.runOnSlice();
    const segmentationId = store.getState().lastResult!.segmentationId;
    expect(service.inspectStoredMap('img:2')).not.toBeNull();
    // The user deletes it in the host's segmentation panel: no command of ours runs.
    host.params.servicesManager.services.segmentationService.remove(segmentationId);
    expect(service.inspectStoredMap('img:2')).toBeNull();
    expect(host.segmentations.has('user-seg')).toBe(true);
    // The same slice again is computed anew (not "already computed") into a new labelmap.
    await service.runOnSlice();
    expect(model.computes()).toBe(2);
    expect(store.getState().message).not.toMatch(/already computed/);
    expect(host.segmentations.has(segmentationId)).toBe(true);
  });

  it('clear and dispose remove only our segmentation', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const actions = createClueService(host.params, store, controlledRegistry().registry);
    await actions.runOnSlice();
    expect([...host.segmentations.keys()]).toEqual(['user-seg', 'clue-anomaly::ds']);
    actions.dispose();
    expect([...host.segmentations.keys()]).toEqual(['user-seg']);
    expect(store.getState()).toMatchObject({ status: 'idle', lastResult: null, displayedResult: null });
    expect(store.getState().model.status).toBe('not-loaded');
  });

  it('a model that fails to load gives its message in the panel and nothing is written', async () => {
    const host = fakeHost();
    const store = createClueStore();
    const registry: MapperRegistry = {
      get: () => Promise.reject(new EngineError('model-corrupt', 'model.onnx: sha256 does not match the manifest')),
      disposeAll: () => {},
    };
    const actions = createClueService(host.params, store, registry);
    await actions.runOnSlice();
    const state = store.getState();
    expect(state.status).toBe('error');
    expect(state.error).toMatch(/^The model file does not match its manifest and was not used: model\.onnx: sha256/);
    expect(state.model.status).toBe('error');
    expect(host.segmentations.has('clue-anomaly::ds')).toBe(false);
  });

  it('a non-image series is refused with a message naming it', async () => {
    const host = fakeHost({ modality: 'SR' });
    const store = createClueStore();
    const model = controlledRegistry();
    const actions = createClueService(host.params, store, model.registry);
    await actions.runOnSlice();
    expect(store.getState().error).toMatch(/shows a SR series, which has no images to analyse/);
    expect(model.computes()).toBe(0);
  });
});

describe('createMapperRegistry', () => {
  it('the configured model variant reaches the engine, and the model state says which file runs and why', async () => {
    const host = fakeHost();
    const store = createClueStore();
    store.setState((s) => ({ config: { ...s.config, modelVariant: 'int8' } }));
    const requested: unknown[] = [];
    const variant = { dtype: 'int8' as const, path: 'model.int8.onnx', reason: 'forced by clue.modelVariant' };
    const registry = createMapperRegistry(async ({ variant: asked }) => {
      requested.push(asked);
      return {
        info: { ...controlledRegistry().registryInfo, variant, dtype: 'int8' } as unknown as EngineInfo,
        run: async ({ values, width, height }) => ({
          map: Float32Array.from(values, (v) => Math.min(1, v / 60)),
          width,
          height,
          score: 0.25,
          timings: { preprocessMs: 1, inferenceMs: 2, postprocessMs: 3, totalMs: 6 },
        }),
        dispose: () => {},
      };
    });
    await createClueService(host.params, store, registry).runOnSlice();
    expect(requested).toEqual(['int8']);
    expect(store.getState().model.variant).toEqual(variant);
    expect(store.getState().status).toBe('done');
  });

  it('creates one engine per model URL, and forgets a failed load so the next run retries', async () => {
    const created: string[] = [];
    const backendsSeen: unknown[] = [];
    let fail = true;
    const engine = {
      info: { modelId: 'm', modelVersion: '2' } as EngineInfo,
      run: async () => ({
        map: new Float32Array(4),
        width: 2,
        height: 2,
        score: 0.5,
        timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0, totalMs: 0 },
      }),
      dispose: () => {},
    };
    const registry = createMapperRegistry(async ({ manifestUrl, backends }) => {
      created.push(manifestUrl);
      backendsSeen.push(backends);
      if (fail) throw new EngineError('model-missing', 'not there');
      return engine;
    });
    await expect(registry.get('/a.json', () => {})).rejects.toThrow('not there');
    fail = false;
    const [m1, m2] = await Promise.all([
      registry.get('/a.json', () => {}, { allowSoftwareGpu: true }),
      registry.get('/a.json', () => {}),
    ]);
    expect(created).toEqual(['/a.json', '/a.json']);
    // The backend settings reach the engine that the load creates.
    expect(backendsSeen).toEqual([undefined, { allowSoftwareGpu: true }]);
    expect(m1.name).toBe('m 2');
    expect((await m2.compute({ values: new Float32Array(4), rows: 2, columns: 2 })).map.length).toBe(4);
    await expect(m1.compute({ values: new Float32Array(4), rows: 3, columns: 2 })).rejects.toThrow(
      /4 values for a 3×2 slice/,
    );
  });
});
