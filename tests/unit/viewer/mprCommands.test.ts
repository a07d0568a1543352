// The workflow commands on an MPR (orthographic volume) viewport, against a host of plain
// data with the shapes our viewer/ code reads: a cached volume over cached source images, a
// camera, OHIF's segmentation service with one labelmap image per source image. Under test:
// the plane read for the model, the labelmap voxels written across source images, results
// kept per plane, re-thresholding, and the refusals.
import { describe, expect, it } from 'vitest';
import { createClueService } from '../../../extension/src/service/ClueService';
import type { IdleScheduler } from '../../../extension/src/service/labelmapSync';
import type { EngineInfo } from '../../../extension/src/engine';
import type { MapperRegistry, SliceForMapping, SliceMapper } from '../../../extension/src/service/sliceMapper';
import { createClueStore } from '../../../extension/src/service/state';
import type { HostExtensionParams } from '../../../extension/src/viewer/hostTypes';
import { fakeSegmentationService, voxels } from './fakeHostParts';

// 20 columns (i) × 18 rows (j) × 16 images (k), 1 × 1 × 2 mm, axes along x, y, z (planes
// of at least 16×16: CLUE's minimum).
const DX = 20;
const DY = 18;
const DZ = 16;
/** Stored value of voxel (i, j, k); the loader pre-scaled nothing, RescaleSlope 2 applies. */
const voxelValue = (i: number, j: number, k: number) => i + 10 * j + 100 * k;
const SLOPE = 2;

const SAGITTAL = { viewPlaneNormal: [1, 0, 0], viewUp: [0, 0, 1] };
const AXIAL = { viewPlaneNormal: [0, 0, -1], viewUp: [0, -1, 0] };

function fakeVolumeHost() {
  const images = new Map<string, any>();
  const imageIds = Array.from({ length: DZ }, (_, k) => `img:${k}`);
  imageIds.forEach((imageId, k) => {
    const data = Float32Array.from({ length: DX * DY }, (_, p) => voxelValue(p % DX, Math.floor(p / DX), k));
    images.set(imageId, { imageId, rows: DY, columns: DX, voxelManager: voxels(data) });
  });
  const volume = {
    volumeId: 'vol',
    dimensions: [DX, DY, DZ],
    spacing: [1, 1, 2],
    origin: [0, 0, 0],
    direction: [1, 0, 0, 0, 1, 0, 0, 0, 1],
    imageIds,
  };
  let camera: any = { ...SAGITTAL, focalPoint: [3, 2, 4], position: [13, 2, 4] };
  const viewport = {
    id: 'mpr-sagittal',
    type: 'orthographic',
    getCamera: () => camera,
    getVolumeId: () => 'vol',
    getCurrentImageId: () => undefined,
    worldToCanvas: () => [0, 0] as [number, number],
    render: () => {},
  };
  const segmentations = new Map<string, any>([
    ['user-seg', { segmentationId: 'user-seg', label: 'mine', representationData: {} }],
  ]);
  const { service: segmentationService } = fakeSegmentationService({
    images,
    segmentations,
    rows: DY,
    columns: DX,
    labelmapId: (_segmentationId, id) => `lm:${id}`,
  });
  const libraries = {
    cornerstone: {
      cache: {
        getImage: (id: string) => images.get(id),
        getVolume: (id: string) => (id === 'vol' ? volume : undefined),
      },
      metaData: {
        get: (type: string) =>
          type === 'modalityLutModule' ? { rescaleSlope: SLOPE, rescaleIntercept: 0 } : undefined,
      },
      imageLoader: { loadAndCacheImage: async (id: string) => images.get(id) },
      utilities: { imageToWorldCoords: () => [0, 0, 0] },
      eventTarget: new EventTarget(),
      getEnabledElement: () => undefined,
      Enums: {
        ViewportType: { STACK: 'stack', ORTHOGRAPHIC: 'orthographic' },
        Events: { IMAGE_RENDERED: 'rendered', ELEMENT_ENABLED: 'enabled' },
      },
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
          getActiveViewportId: () => 'mpr-sagittal',
          getState: () => ({
            activeViewportId: 'mpr-sagittal',
            viewports: new Map([['mpr-sagittal', { displaySetInstanceUIDs: ['ds'] }]]),
          }),
        },
        cornerstoneViewportService: { getCornerstoneViewport: () => viewport },
        displaySetService: {
          getDisplaySetByUID: (uid: string) =>
            uid === 'ds' ? { displaySetInstanceUID: 'ds', imageIds, Modality: 'MR' } : undefined,
        },
      },
    },
    extensionManager: { getModuleEntry: () => ({ exports: { getCornerstoneLibraries: () => libraries } }) },
    commandsManager: { runCommand: () => undefined },
  } as unknown as HostExtensionParams;

  /** Our segment's voxels, as [i, j, k] triples, over every labelmap image. */
  const labelmapVoxels = () => {
    const found: Array<[number, number, number]> = [];
    imageIds.forEach((id, k) => {
      const data = images.get(`lm:${id}`)?.voxelManager.getScalarData() ?? [];
      for (let p = 0; p < data.length; p++) if (data[p] === 1) found.push([p % DX, Math.floor(p / DX), k]);
    });
    return found;
  };
  return {
    params,
    images,
    segmentations,
    labelmapVoxels,
    libraries,
    setCamera: (next: any) => {
      camera = next;
    },
  };
}

/** A mapper that answers at once: map = value / 2000 (so the threshold cuts by position), keeping what it was given. */
function recordingRegistry() {
  const inputs: SliceForMapping[] = [];
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
    manifest: { threshold: { default: 0.5 } },
  } as unknown as EngineInfo;
  const mapper: SliceMapper = {
    name: 'fake 1',
    info,
    async compute(slice) {
      inputs.push(slice);
      return {
        map: Float32Array.from(slice.values, (v) => v / 2000),
        score: 0.5,
        timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 },
      };
    },
  };
  const registry: MapperRegistry = { get: async () => mapper, disposeAll: () => {} };
  return { registry, inputs };
}

function manualScheduler() {
  const tasks: Array<() => void> = [];
  const schedule: IdleScheduler = (task) => void tasks.push(task);
  return {
    schedule,
    flush: () => {
      while (tasks.length) tasks.shift()!();
    },
  };
}

/** Voxels of the sagittal plane i whose real value / 2000 reaches t. */
function expectedPlaneVoxels(i: number, t: number): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let k = 0; k < DZ; k++)
    for (let j = 0; j < DY; j++)
      if (Math.fround((voxelValue(i, j, k) * SLOPE) / 2000) >= Math.fround(t)) out.push([i, j, k]);
  return out;
}

const sortVoxels = (list: Array<[number, number, number]>) =>
  [...list].sort((a, b) => a[2] - b[2] || a[1] - b[1] || a[0] - b[0]);

describe('workflow commands on an MPR viewport', () => {
  it('runs on the sagittal plane: the model gets the reformat, the labelmap exactly its voxels above the threshold', async () => {
    const host = fakeVolumeHost();
    const store = createClueStore();
    const model = recordingRegistry();
    const actions = createClueService(host.params, store, model.registry);
    await actions.runOnSlice();
    const state = store.getState();
    expect(state.status).toBe('done');
    expect(state.lastResult).toMatchObject({ imageId: 'mpr:sagittal:i=3', rows: DZ, columns: DY, threshold: 0.5 });
    expect(state.message).toMatch(/sagittal reformat \(16×18\)/);
    // The domain check sees the reformat's own plane and spacing (rows 2 mm apart along z), not the source images'.
    expect(state.lastResult!.domain.slice).toMatchObject({ plane: 'sagittal', pixelSpacingMm: [2, 1] });
    // What the model saw: rows from the top (superior, highest k) down, columns along j; slope applied.
    const input = model.inputs[0]!;
    expect([input.rows, input.columns]).toEqual([DZ, DY]);
    for (let r = 0; r < DZ; r++)
      for (let c = 0; c < DY; c++) expect(input.values[r * DY + c]).toBe(voxelValue(3, c, DZ - 1 - r) * SLOPE);
    const expected = expectedPlaneVoxels(3, 0.5);
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(DY * DZ);
    expect(sortVoxels(host.labelmapVoxels())).toEqual(sortVoxels(expected));
    expect(state.lastResult!.voxelCount).toBe(expected.length);
    expect(host.segmentations.get('user-seg')).toBeDefined(); // the user's own is untouched
  });

  it('keeps results per plane: back on a computed plane nothing runs, another plane adds its own voxels', async () => {
    const host = fakeVolumeHost();
    const store = createClueStore();
    const model = recordingRegistry();
    const idle = manualScheduler();
    const actions = createClueService(host.params, store, model.registry, idle.schedule);
    await actions.runOnSlice();
    host.setCamera({ ...SAGITTAL, focalPoint: [5, 0, 0], position: [15, 0, 0] });
    await actions.runOnSlice();
    host.setCamera({ ...SAGITTAL, focalPoint: [3.2, 0, 0], position: [13.2, 0, 0] });
    await actions.runOnSlice();
    expect(model.inputs.length).toBe(2);
    expect(store.getState().message).toMatch(/already computed/);
    expect(sortVoxels(host.labelmapVoxels())).toEqual(
      sortVoxels([...expectedPlaneVoxels(3, 0.5), ...expectedPlaneVoxels(5, 0.5)]),
    );

    // The slider: the displayed plane (i = 3) at once, the other when idle.
    actions.setThreshold({ threshold: 0.6 });
    expect(host.labelmapVoxels().filter(([i]) => i === 3)).toEqual(sortVoxels(expectedPlaneVoxels(3, 0.6)));
    idle.flush();
    expect(sortVoxels(host.labelmapVoxels())).toEqual(
      sortVoxels([...expectedPlaneVoxels(3, 0.6), ...expectedPlaneVoxels(5, 0.6)]),
    );
    expect(model.inputs.length).toBe(2);

    actions.clear();
    expect(host.segmentations.has('user-seg')).toBe(true);
    expect([...host.segmentations.keys()]).toEqual(['user-seg']);
  });

  it('the acquisition (axial) plane of the volume is its source image, stored as for a stack', async () => {
    const host = fakeVolumeHost();
    host.setCamera({ ...AXIAL, focalPoint: [0, 0, 2 * 3], position: [0, 0, -10] });
    const store = createClueStore();
    const model = recordingRegistry();
    await createClueService(host.params, store, model.registry).runOnSlice();
    expect(store.getState().lastResult).toMatchObject({ imageId: 'img:3', rows: DY, columns: DX });
    expect(Array.from(model.inputs[0]!.values)).toEqual(
      Array.from(host.images.get('img:3').voxelManager.getScalarData(), (v: number) => v * SLOPE),
    );
  });

  it('a series run from an MPR viewport covers the series’ own images', async () => {
    const host = fakeVolumeHost();
    const store = createClueStore();
    const model = recordingRegistry();
    await createClueService(host.params, store, model.registry).runOnSeries();
    expect(store.getState().series).toMatchObject({ status: 'done', total: DZ, computed: DZ });
    expect(model.inputs.every((input) => input.rows === DY && input.columns === DX)).toBe(true);
    const expected: Array<[number, number, number]> = [];
    for (let k = 0; k < DZ; k++)
      for (let j = 0; j < DY; j++)
        for (let i = 0; i < DX; i++) {
          if (Math.fround((voxelValue(i, j, k) * SLOPE) / 2000) >= Math.fround(0.5)) expected.push([i, j, k]);
        }
    expect(sortVoxels(host.labelmapVoxels())).toEqual(sortVoxels(expected));
  });

  it('an image result and a crossing plane compose: neither erases the other’s voxels, counts stay each result’s own', async () => {
    // A mapper that flags a whole reformat (map 0.9) and nothing of an axial image (map 0.1),
    // so the two disagree on every voxel they share (column i = 3 of image 3).
    const constantRegistry = (): MapperRegistry => {
      const info = {
        backend: 'wasm',
        threads: 1,
        skipped: [],
        manifest: { threshold: { default: 0.5 } },
      } as unknown as EngineInfo;
      const mapper: SliceMapper = {
        name: 'constant 1',
        info,
        async compute(slice) {
          const value = slice.rows === DZ ? 0.9 : 0.1;
          return {
            map: new Float32Array(slice.rows * slice.columns).fill(value),
            score: value,
            timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 },
          };
        },
      };
      return { get: async () => mapper, disposeAll: () => {} };
    };
    const planeVoxels = Array.from({ length: DZ * DY }, (_, p): [number, number, number] => [
      3,
      p % DY,
      Math.floor(p / DY),
    ]);
    const imageVoxels = Array.from({ length: DX * DY }, (_, p): [number, number, number] => [
      p % DX,
      Math.floor(p / DX),
      3,
    ]);
    const union = (...lists: Array<Array<[number, number, number]>>) =>
      sortVoxels([...new Map(lists.flat().map((v) => [v.join(), v])).values()]);
    const sagittalCamera = { ...SAGITTAL, focalPoint: [3, 2, 4], position: [13, 2, 4] };
    const axialCamera = { ...AXIAL, focalPoint: [0, 0, 2 * 3], position: [0, 0, -10] };

    for (const order of [
      [sagittalCamera, axialCamera],
      [axialCamera, sagittalCamera],
    ]) {
      const host = fakeVolumeHost();
      const store = createClueStore();
      const idle = manualScheduler();
      const actions = createClueService(host.params, store, constantRegistry(), idle.schedule);
      const counts = new Map<string, number>();
      for (const camera of order) {
        host.setCamera(camera);
        await actions.runOnSlice();
        const result = store.getState().lastResult!;
        counts.set(result.imageId, result.voxelCount);
      }
      // Whatever the order: the plane's voxels all set (the image's map, below the threshold
      // on their crossing, does not clear them), the image's own count 0.
      expect(sortVoxels(host.labelmapVoxels())).toEqual(sortVoxels(planeVoxels));
      expect(Object.fromEntries(counts)).toEqual({ 'mpr:sagittal:i=3': DZ * DY, 'img:3': 0 });

      // Lowered below the image's map: both hold their voxels; raised back: the plane's remain.
      actions.setThreshold({ threshold: 0.05 });
      idle.flush();
      expect(sortVoxels(host.labelmapVoxels())).toEqual(union(planeVoxels, imageVoxels));
      actions.setThreshold({ threshold: 0.5 });
      idle.flush();
      expect(sortVoxels(host.labelmapVoxels())).toEqual(sortVoxels(planeVoxels));
      // Above both: nothing is left.
      actions.setThreshold({ threshold: 0.95 });
      idle.flush();
      expect(host.labelmapVoxels()).toEqual([]);
    }
  });

  it('refuses an oblique plane and a volume still loading, with their own messages', async () => {
    const host = fakeVolumeHost();
    const store = createClueStore();
    const actions = createClueService(host.params, store, recordingRegistry().registry);
    const r = (30 * Math.PI) / 180;
    host.setCamera({ viewPlaneNormal: [Math.cos(r), Math.sin(r), 0], viewUp: [0, 0, 1], focalPoint: [3, 2, 4] });
    await actions.runOnSlice();
    expect(store.getState()).toMatchObject({ status: 'error' });
    expect(store.getState().error).toMatch(/oblique plane \(30\.0° off/);

    host.setCamera({ ...SAGITTAL, focalPoint: [3, 2, 4] });
    host.images.delete('img:2');
    await actions.runOnSlice();
    expect(store.getState().error).toMatch(/volume is still loading \(1 of 16 images missing\)/);
  });

  it('a blank reformatted plane is refused by name before the model runs; the images it crosses are not blank', async () => {
    const host = fakeVolumeHost();
    // Column i = 3 of every source image is 0 (e.g. outside the body): the sagittal plane there is blank.
    for (const [id, image] of host.images)
      if (id.startsWith('img:')) for (let j = 0; j < DY; j++) image.voxelManager.getScalarData()[j * DX + 3] = 0;
    const store = createClueStore();
    const model = recordingRegistry();
    await createClueService(host.params, store, model.registry).runOnSlice();
    expect(store.getState().error).toBe(
      'This sagittal plane is blank (every pixel is 0): there is nothing to detect, so the model was not run on it.',
    );
    expect(model.inputs).toHaveLength(0);
    expect([...host.segmentations.keys()]).toEqual(['user-seg']);
  });
  it('a plane across images with different modality LUTs: each image’s applied, the reported one marked per image', async () => {
    const host = fakeVolumeHost();
    // Image 5 (k = 5) has its own slope; the others SLOPE.
    host.libraries.cornerstone.metaData.get = (type: string, imageId?: string) =>
      type === 'modalityLutModule' ? { rescaleSlope: imageId === 'img:5' ? 3 : SLOPE, rescaleIntercept: 0 } : undefined;
    const store = createClueStore();
    const model = recordingRegistry();
    await createClueService(host.params, store, model.registry).runOnSlice();
    expect(store.getState().lastResult!.modalityLut).toEqual({
      slope: SLOPE,
      intercept: 0,
      appliedByLoader: false,
      perImage: true,
    });
    const input = model.inputs[0]!;
    const rowOf = (k: number) => DZ - 1 - k; // superior first
    expect(input.values[rowOf(5) * DY + 2]).toBe(voxelValue(3, 2, 5) * 3);
    expect(input.values[rowOf(4) * DY + 2]).toBe(voxelValue(3, 2, 4) * SLOPE);

    // The same LUT everywhere: no mark. A colour image in the volume: the image reader's message.
    const uniform = fakeVolumeHost();
    const uniformStore = createClueStore();
    const actions = createClueService(uniform.params, uniformStore, recordingRegistry().registry);
    await actions.runOnSlice();
    expect(uniformStore.getState().lastResult!.modalityLut).toEqual({
      slope: SLOPE,
      intercept: 0,
      appliedByLoader: false,
    });
    uniform.images.get('img:7').color = true;
    uniform.setCamera({ ...SAGITTAL, focalPoint: [6, 0, 0], position: [16, 0, 0] });
    await actions.runOnSlice();
    expect(uniformStore.getState().error).toBe(
      'The volume’s image 8 is a colour image (3 components); CLUE needs greyscale (MONOCHROME1 or MONOCHROME2).',
    );
  });

  it('a labelmap image missing from the cache is a panel message with what to do, not an unexpected error', async () => {
    const host = fakeVolumeHost();
    const store = createClueStore();
    const actions = createClueService(host.params, store, recordingRegistry().registry);
    await actions.runOnSlice();
    const segmentationId = store.getState().lastResult!.segmentationId;
    host.images.delete(`lm:img:2`);
    host.setCamera({ ...SAGITTAL, focalPoint: [5, 0, 0], position: [15, 0, 0] });
    await actions.runOnSlice();
    expect(store.getState()).toMatchObject({ status: 'error' });
    expect(store.getState().error).toMatch(
      /^Our labelmap does not match the series yet \(no labelmap image for image 3 of the volume\); run again after the series has loaded\.$/,
    );
    expect(host.segmentations.has(segmentationId)).toBe(true);
  });
});
