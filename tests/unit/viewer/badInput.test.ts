// Bad input the viewer meets in practice (issue 12): a blank or constant slice, an image in a
// transfer syntax the host cannot decode, a palette colour image. The commands run against a
// host of plain data with the shapes our viewer/ code reads (as in commands.test.ts) and a
// slice mapper that counts its runs; what is under test is ours: which slices reach the
// model, what the panel says, and that nothing of the user's is touched.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createClueService } from '../../../extension/src/service/ClueService';
import type { EngineInfo } from '../../../extension/src/engine';
import type { MapperRegistry, SliceMapper } from '../../../extension/src/service/sliceMapper';
import { createClueStore } from '../../../extension/src/service/state';
import type { HostExtensionParams } from '../../../extension/src/viewer/hostTypes';
import { HOST_DECODABLE_TRANSFER_SYNTAXES } from '../../../extension/src/viewer/transferSyntax';
import { constantValue } from '../../../extension/src/service/messages';
import { fakeSegmentationService, voxels } from './fakeHostParts';

const SIZE = 16;
const SLICES = 5;
const DISPLAYED = 2;

/** A varied slice (a ramp), so it is not blank. */
const ramp = (k: number) => Float32Array.from({ length: SIZE * SIZE }, (_, i) => (i % SIZE) + k * 3);
const filled = (value: number) => new Float32Array(SIZE * SIZE).fill(value);

interface FakeHostOptions {
  /** Stored pixels of slice k (default: a ramp). */
  pixels?: (k: number) => Float32Array;
  /** Naturalized instance metadata of slice k, as OHIF's metaData.get('instance') gives it. */
  instance?: (k: number) => Record<string, unknown>;
  /** Cornerstone's imagePixelModule of slice k. */
  imagePixelModule?: (k: number) => Record<string, unknown>;
  /** Extra fields of the cached image of slice k (color, numberOfComponents). */
  image?: (k: number) => Record<string, unknown>;
  /** Slices not in the host's cache (their frames never decoded). */
  notCached?: number[];
  /** What the host's loader rejects an uncached slice with (default: its "No decoder" error). */
  loadError?: (id: string) => unknown;
  /** Uncached slices whose load is in flight: the loader delivers them when asked. */
  loading?: number[];
  modalityLut?: { rescaleSlope: number; rescaleIntercept: number };
}

function fakeHost(options: FakeHostOptions = {}) {
  const images = new Map<string, any>();
  const imageIds = Array.from({ length: SLICES }, (_, k) => `img:${k}`);
  const indexOf = (imageId: string) => imageIds.indexOf(imageId);
  imageIds.forEach((imageId, k) => {
    if (options.notCached?.includes(k)) return;
    const data = (options.pixels ?? ramp)(k);
    images.set(imageId, { imageId, rows: SIZE, columns: SIZE, voxelManager: voxels(data), ...options.image?.(k) });
  });
  const displaySet = { displaySetInstanceUID: 'ds', imageIds, Modality: 'MR' };
  let current = DISPLAYED;
  const loadRequests: string[] = [];
  const viewport = {
    id: 'vp',
    type: 'stack',
    getCurrentImageId: () => imageIds[current],
    getImageIds: () => imageIds,
    worldToCanvas: () => [0, 0] as [number, number],
    render: () => {},
  };
  const segmentations = new Map<string, any>([
    ['user-seg', { segmentationId: 'user-seg', label: 'mine', representationData: {} }],
  ]);
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
          const k = indexOf(imageId);
          if (type === 'instance') return options.instance?.(k);
          if (type === 'imagePixelModule') return options.imagePixelModule?.(k);
          if (type === 'modalityLutModule') return options.modalityLut;
          if (type === 'imagePlaneModule')
            return { rowCosines: [1, 0, 0], columnCosines: [0, 1, 0], rowPixelSpacing: 1, columnPixelSpacing: 1 };
          return undefined;
        },
      },
      imageLoader: {
        // What the host's loader does with a frame it has no decoder for.
        loadAndCacheImage: async (id: string) => {
          loadRequests.push(id);
          const k = indexOf(id);
          if (!images.has(id) && options.loading?.includes(k)) {
            images.set(id, {
              imageId: id,
              rows: SIZE,
              columns: SIZE,
              voxelManager: voxels((options.pixels ?? ramp)(k)),
              ...options.image?.(k),
            });
          }
          const image = images.get(id);
          if (!image)
            throw options.loadError ? options.loadError(id) : new Error(`No decoder for transfer syntax (image ${id})`);
          return image;
        },
      },
      utilities: { imageToWorldCoords: () => [0, 0, 0] },
      eventTarget: new EventTarget(),
      getEnabledElement: () => undefined,
      Enums: { ViewportType: { STACK: 'stack' }, Events: { IMAGE_RENDERED: 'rendered', ELEMENT_ENABLED: 'enabled' } },
    },
    cornerstoneTools: {
      Enums: { SegmentationRepresentations: { Labelmap: 'Labelmap' } },
      segmentation: { triggerSegmentationEvents: { triggerSegmentationDataModified: () => {} } },
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
    loadRequests,
    scrollTo: (k: number) => {
      current = k;
    },
  };
}

/** A mapper that answers at once and records which slices it was given. */
function countingRegistry() {
  const seen: Float32Array[] = [];
  const info = {
    backend: 'wasm',
    threads: 1,
    skipped: [],
    modelId: 'fake',
    modelVersion: '1',
    fromCache: false,
    networkBytes: 0,
    modelBytes: 0,
    totalMs: 1,
    cacheProblem: null,
    manifest: { threshold: { default: 0.2 } }, // slice 0's ramp reaches 0.25
  } as unknown as EngineInfo;
  const mapper: SliceMapper = {
    name: 'fake 1',
    info,
    async compute(slice) {
      seen.push(Float32Array.from(slice.values));
      return {
        map: Float32Array.from(slice.values, (v) => Math.min(1, v / 60)),
        score: 0.993,
        timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 },
      };
    },
  };
  let loads = 0;
  const registry: MapperRegistry = {
    get: async () => {
      loads++;
      return mapper;
    },
    disposeAll: () => {},
  };
  return { registry, seen, loads: () => loads };
}

describe('blank and constant slices', () => {
  it('constantValue: the one value of a constant slice, else null', () => {
    expect(constantValue(filled(0))).toBe(0);
    expect(constantValue(Float32Array.of(-1024, -1024, -1024))).toBe(-1024);
    expect(constantValue(ramp(0))).toBeNull();
    expect(constantValue(Float32Array.of(0, 0, 0, 1e-6))).toBeNull(); // one pixel differs: not blank
    expect(constantValue(Float32Array.of(NaN, NaN))).toBeNull(); // left to preprocessing's non-finite check
    expect(constantValue(new Float32Array(0))).toBeNull();
  });

  it('a blank displayed slice is refused with a message, before the model loads, and nothing is written', async () => {
    const host = fakeHost({ pixels: (k) => (k === DISPLAYED ? filled(0) : ramp(k)) });
    const store = createClueStore();
    const model = countingRegistry();
    await createClueService(host.params, store, model.registry).runOnSlice();
    const state = store.getState();
    expect(state.status).toBe('error');
    expect(state.error).toBe(
      'This slice is blank (every pixel is 0): there is nothing to detect, so the model was not run on it.',
    );
    expect(state.lastResult).toBeNull();
    expect(model.loads()).toBe(0);
    expect(model.seen).toHaveLength(0);
    expect(state.modelRuns).toBe(0);
    expect([...host.segmentations.keys()]).toEqual(['user-seg']); // no labelmap of ours, the user's untouched
  });

  it('a constant slice names its value after the modality LUT', async () => {
    // Stored 5 everywhere, RescaleSlope 2, RescaleIntercept -3: every real-world value is 7.
    const host = fakeHost({ pixels: () => filled(5), modalityLut: { rescaleSlope: 2, rescaleIntercept: -3 } });
    const store = createClueStore();
    const model = countingRegistry();
    await createClueService(host.params, store, model.registry).runOnSlice();
    expect(store.getState().error).toBe(
      'This slice is constant (every pixel is 7): it shows no anatomy, so there is nothing to detect and the model was not run on it.',
    );
    expect(model.seen).toHaveLength(0);
  });

  it('a series run does not run the model on blank slices but keeps them as empty maps, even when the displayed slice is one', async () => {
    const blank = new Set([0, DISPLAYED, 4]);
    const host = fakeHost({ pixels: (k) => (blank.has(k) ? filled(k === 4 ? -1000 : 0) : ramp(k)) });
    const store = createClueStore();
    const model = countingRegistry();
    const actions = createClueService(host.params, store, model.registry);
    await actions.runOnSeries();
    const state = store.getState();
    expect(state.status).toBe('done');
    expect(state.error).toBeNull();
    expect(state.series).toMatchObject({ status: 'done', total: SLICES, done: SLICES, computed: 2, blank: 3 });
    expect(state.message).toBe(
      'Series done: 5 slices (2 computed now, 0 already stored; 3 blank — every pixel the same value — not run: nothing to detect, kept as empty maps).',
    );
    expect(state.modelRuns).toBe(2);
    expect(model.seen).toHaveLength(2);
    expect(model.seen.every((values) => constantValue(values) === null)).toBe(true);
    expect(host.labelmapCount(1)).toBeGreaterThan(0);
    for (const k of blank) expect(host.labelmapCount(k)).toBe(0);
    expect(host.segmentations.get('user-seg')).toEqual({
      segmentationId: 'user-seg',
      label: 'mine',
      representationData: {},
    });
    // The displayed (blank) slice's stored result says so: all-zero map, score 0, flagged.
    expect(state.displayedResult).toMatchObject({ blank: true, score: 0, voxelCount: 0, mapMin: 0, mapMax: 0 });

    // Again: every slice is stored now, the blank ones included; nothing runs.
    await actions.runOnSeries();
    expect(model.seen).toHaveLength(2);
    expect(store.getState().message).toBe('Series done: 5 slices (0 computed now, 5 already stored).');
  });

  it('a series without blank slices keeps its summary as before', async () => {
    const host = fakeHost();
    const store = createClueStore();
    await createClueService(host.params, store, countingRegistry().registry).runOnSeries();
    expect(store.getState().series).toMatchObject({ computed: SLICES, blank: 0 });
    expect(store.getState().message).toBe('Series done: 5 slices (5 computed now, 0 already stored).');
  });
});

describe('transfer syntaxes the host cannot decode', () => {
  const storedAs = (uid: string) => () => ({ SOPInstanceUID: 'x', TransferSyntaxUID: uid });

  it('names the transfer syntax of a displayed image the host has no decoder for, instead of "not loaded yet"', async () => {
    const host = fakeHost({ notCached: [DISPLAYED], instance: storedAs('1.2.840.10008.1.2.4.112') });
    const store = createClueStore();
    const model = countingRegistry();
    await createClueService(host.params, store, model.registry).runOnSlice();
    expect(store.getState().error).toBe(
      'The displayed image is stored with transfer syntax JPEG XL (1.2.840.10008.1.2.4.112), which the viewer cannot decode; re-send it from the PACS in another transfer syntax (e.g. Explicit VR Little Endian).',
    );
    expect(model.loads()).toBe(0);
  });

  it('reads AvailableTransferSyntaxUID when the metadata has no file meta, and names an unknown UID by itself', async () => {
    const store = createClueStore();
    // A DICOMweb server's metadata: no (0002,0010); the UID padded with NUL as UI values may be.
    const host = fakeHost({
      notCached: [DISPLAYED],
      instance: () => ({ AvailableTransferSyntaxUID: '1.2.840.10008.1.2.4.93\0' }),
    });
    await createClueService(host.params, store, countingRegistry().registry).runOnSlice();
    expect(store.getState().error).toMatch(
      /^The displayed image is stored with transfer syntax JPEG 2000 Part 2 Multi-component \(1\.2\.840\.10008\.1\.2\.4\.93\), which the viewer cannot decode/,
    );

    const unknown = fakeHost({ notCached: [DISPLAYED], instance: storedAs('1.2.3.4.5') });
    await createClueService(unknown.params, store, countingRegistry().registry).runOnSlice();
    expect(store.getState().error).toMatch(
      /^The displayed image is stored with transfer syntax 1\.2\.3\.4\.5, which the viewer cannot decode; re-send it/,
    );
  });

  it('an image whose load the host rejects is named with its transfer syntax, not "not loaded yet" (deflated and big endian included)', async () => {
    // The host's loader decodes deflated and big endian (HOST_DECODABLE_TRANSFER_SYNTAXES), but
    // a server may refuse their frames: our static DICOMweb server answers 406, which the
    // WADO-RS loader rejects with the request's status rather than an Error.
    const refused = () => ({ status: 406, statusText: 'Not Acceptable' });
    const cases: Array<[string, string]> = [
      ['1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian (1.2.840.10008.1.2.1.99)'],
      ['1.2.840.10008.1.2.2', 'Explicit VR Big Endian (1.2.840.10008.1.2.2)'],
    ];
    for (const [uid, named] of cases) {
      const store = createClueStore();
      const model = countingRegistry();
      const host = fakeHost({ notCached: [DISPLAYED], instance: storedAs(uid), loadError: refused });
      await createClueService(host.params, store, model.registry).runOnSlice();
      expect(store.getState().error).toBe(
        `The viewer could not load or decode the displayed image (stored with transfer syntax ${named}): the server answered HTTP 406 Not Acceptable. Waiting will not help; have the PACS send it in another transfer syntax (e.g. Explicit VR Little Endian).`,
      );
      expect(host.loadRequests).toEqual([`img:${DISPLAYED}`]);
      expect(model.loads()).toBe(0);
      expect([...host.segmentations.keys()]).toEqual(['user-seg']);
    }
    // No transfer syntax in the metadata: the loader's own words, nothing claimed about a syntax.
    const store = createClueStore();
    await createClueService(
      fakeHost({ notCached: [DISPLAYED], instance: () => ({}) }).params,
      store,
      countingRegistry().registry,
    ).runOnSlice();
    expect(store.getState().error).toBe(
      `The viewer could not load or decode the displayed image: No decoder for transfer syntax (image img:${DISPLAYED}). Waiting will not help; have the PACS send it in another transfer syntax (e.g. Explicit VR Little Endian).`,
    );
  });

  it('a displayed image still loading is waited for and run on', async () => {
    const host = fakeHost({ notCached: [DISPLAYED], loading: [DISPLAYED], instance: storedAs('1.2.840.10008.1.2.1') });
    const store = createClueStore();
    const model = countingRegistry();
    await createClueService(host.params, store, model.registry).runOnSlice();
    expect(store.getState()).toMatchObject({ status: 'done', error: null });
    expect(host.loadRequests).toEqual([`img:${DISPLAYED}`]);
    expect(model.seen).toHaveLength(1);
    expect(host.labelmapCount(DISPLAYED)).toBeGreaterThan(0);
  });

  it('a series run names an image whose load the host rejects, keeping what it computed', async () => {
    const host = fakeHost({
      notCached: [4],
      instance: (k) => ({ TransferSyntaxUID: k === 4 ? '1.2.840.10008.1.2.2' : '1.2.840.10008.1.2.1' }),
      loadError: () => ({ status: 406, statusText: 'Not Acceptable' }),
    });
    const store = createClueStore();
    await createClueService(host.params, store, countingRegistry().registry).runOnSeries();
    expect(store.getState().series).toMatchObject({ status: 'error', done: 4, computed: 4 });
    expect(store.getState().error).toMatch(
      /^The viewer could not load or decode the image 5 of the series \(stored with transfer syntax Explicit VR Big Endian \(1\.2\.840\.10008\.1\.2\.2\)\): the server answered HTTP 406/,
    );
    expect([0, 1, 2, 3].map(host.labelmapCount).every((n) => n > 0)).toBe(true);
  });

  it('a series run stops at an image the host cannot decode, with its message, keeping what it computed', async () => {
    const host = fakeHost({
      notCached: [3],
      instance: (k) => ({ TransferSyntaxUID: k === 3 ? '1.2.840.10008.1.2.4.100' : '1.2.840.10008.1.2.1' }),
    });
    const store = createClueStore();
    const model = countingRegistry();
    await createClueService(host.params, store, model.registry).runOnSeries();
    const state = store.getState();
    expect(state.series).toMatchObject({ status: 'error', done: 3, computed: 3 });
    expect(state.error).toBe(
      'The image 4 of the series is stored with transfer syntax MPEG2 Main Profile / Main Level (1.2.840.10008.1.2.4.100), which the viewer cannot decode; re-send it from the PACS in another transfer syntax (e.g. Explicit VR Little Endian).',
    );
    expect(host.loadRequests).toEqual([]); // not handed to a loader that would fail on it
    expect([0, 1, 2].map(host.labelmapCount).every((n) => n > 0)).toBe(true);
  });

  it('the list matches the decoders of the prebuilt host, when it is installed', () => {
    // .cache/ohif-app-<version>/package/dist (scripts/setup.sh): the dicom-image-loader's
    // main-thread decodeImageFrame has one case per transfer syntax it decodes.
    const cacheDir = path.resolve(__dirname, '../../../.cache');
    const dist = existsSync(cacheDir)
      ? readdirSync(cacheDir)
          .filter((d) => d.startsWith('ohif-app-'))
          .map((d) => path.join(cacheDir, d, 'package', 'dist'))
          .find(existsSync)
      : undefined;
    const bundle = dist ? readdirSync(dist).find((f) => /^app\.bundle\..*\.js$/.test(f)) : undefined;
    if (!dist || !bundle) return; // the host is not installed here: nothing to compare with
    const code = readFileSync(path.join(dist, bundle), 'utf8');
    const start = code.indexOf('function decodeImageFrame(imageFrame, transferSyntax, pixelData, canvas');
    const end = code.indexOf('No decoder for transfer syntax', start);
    expect(start).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(start);
    const cases = [...code.slice(start, end).matchAll(/case '([0-9.]+)':/g)].map((m) => m[1]);
    expect(new Set(cases)).toEqual(HOST_DECODABLE_TRANSFER_SYNTAXES);
  });
});

describe('palette colour images', () => {
  it('a PALETTE COLOR image is named as such, not "3 components"', async () => {
    // The host turns palette indices into RGB while decoding: the cached image is colour.
    const host = fakeHost({
      instance: () => ({ PhotometricInterpretation: 'PALETTE COLOR' }),
      image: () => ({ color: true, numberOfComponents: 3 }),
    });
    const store = createClueStore();
    const model = countingRegistry();
    await createClueService(host.params, store, model.registry).runOnSlice();
    expect(store.getState().error).toBe(
      'The displayed image is a palette colour (PALETTE COLOR) image, which is not supported: the model reads greyscale (MONOCHROME1 or MONOCHROME2) slices.',
    );
    expect(model.loads()).toBe(0);
  });

  it('is refused even when its cached pixels are one component (palette indices), from Cornerstone’s imagePixelModule too', async () => {
    const host = fakeHost({ imagePixelModule: () => ({ photometricInterpretation: 'PALETTE COLOR' }) });
    const store = createClueStore();
    const model = countingRegistry();
    await createClueService(host.params, store, model.registry).runOnSlice();
    expect(store.getState().error).toMatch(
      /^The displayed image is a palette colour \(PALETTE COLOR\) image, which is not supported/,
    );
    expect(model.seen).toHaveLength(0);
  });

  it('another colour image keeps its component count and names its photometric interpretation', async () => {
    const host = fakeHost({
      instance: () => ({ PhotometricInterpretation: 'RGB' }),
      image: () => ({ color: true, numberOfComponents: 3 }),
    });
    const store = createClueStore();
    await createClueService(host.params, store, countingRegistry().registry).runOnSlice();
    expect(store.getState().error).toBe(
      'The displayed image is a colour image (3 components); CLUE needs greyscale (MONOCHROME1 or MONOCHROME2), not RGB.',
    );
  });

  it('MONOCHROME1 and MONOCHROME2 images run', async () => {
    for (const photometric of ['MONOCHROME1', 'MONOCHROME2']) {
      const store = createClueStore();
      await createClueService(
        fakeHost({ instance: () => ({ PhotometricInterpretation: photometric }) }).params,
        store,
        countingRegistry().registry,
      ).runOnSlice();
      expect(store.getState()).toMatchObject({ status: 'done', error: null });
    }
  });
});
