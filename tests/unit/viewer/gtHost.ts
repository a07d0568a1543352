// A host made of plain data with the shapes our viewer/ code reads (OHIF services, the
// Cornerstone cache, voxel managers, the metadata provider, the active data source), over a
// small realistic MR series (fakeMrSeries: naturalized metadata + Part-10 files). A ground
// truth is a segmentation whose labelmap images reference source images by referencedImageId,
// as OHIF's SEG loader makes them. Used by the comparison and save tests.
import type { EngineInfo } from '../../../extension/src/engine';
import type { MapperRegistry, SliceMapper } from '../../../extension/src/service/sliceMapper';
import type { HostDataSourceDefinition, HostExtensionParams } from '../../../extension/src/viewer/hostTypes';
import { buildSegmentation, sourceSeriesFromInstances } from '../../../extension/src/dicom';
import { fakeMrSeries, type FakeSeries } from '../dicom/fakeSeries';
import { fakeSegmentationService, voxels } from './fakeHostParts';

export interface GtHost {
  params: HostExtensionParams;
  series: FakeSeries;
  imageIds: string[];
  pixels: number;
  /** Source slice values (what the fake model maps). */
  values(k: number): Float32Array;
  /** Adds a non-CLUE labelmap segmentation with labelmaps on the given slices only (listed in `order`). */
  addGroundTruth(
    id: string,
    label: string,
    labelmaps: Map<number, Uint8Array>,
    segments: Record<number, string>,
    order?: number[],
  ): void;
  /**
   * Adds a SEG series the viewer has not loaded: a real Part-10 SEG (our writer, one segment
   * "Lesion", a frame per slice) that the host's dicomLoaderService hands out as bytes.
   */
  addGroundTruthFile(
    id: string,
    label: string,
    masks: Map<number, Uint8Array>,
    options?: { fetchable?: boolean },
  ): void;
  /** How often the host's dicomLoaderService was asked for a file. */
  fileReads(): number;
  scrollTo(k: number): void;
  setDataSource(definition: HostDataSourceDefinition | undefined): void;
}

export function gtHost(options: { slices?: number; rows?: number; columns?: number } = {}): GtHost {
  const series = fakeMrSeries({
    slices: options.slices ?? 4,
    rows: options.rows ?? 16,
    columns: options.columns ?? 20,
  });
  const { rows, columns } = series;
  const pixels = rows * columns;
  const images = new Map<string, any>();
  const metadata = new Map<string, Record<string, unknown>>();
  const imageIds = series.instances.map((instance, k) => {
    const imageId = `wadors:/studies/x/series/y/instances/${String(instance.SOPInstanceUID)}/frames/1`;
    // A ramp that grows with k, so every slice has its own map.
    const data = Float32Array.from({ length: pixels }, (_, i) => (i % columns) * 2 + k * 5);
    images.set(imageId, { imageId, rows, columns, voxelManager: voxels(data) });
    metadata.set(imageId, instance);
    return imageId;
  });
  const displaySet = { displaySetInstanceUID: 'ds', imageIds, Modality: 'MR' };
  let current = 0;
  const viewport = {
    id: 'vp',
    type: 'stack',
    getCurrentImageId: () => imageIds[current],
    getImageIds: () => imageIds,
    worldToCanvas: () => [0, 0] as [number, number],
    render: () => {},
  };
  const segmentations = new Map<string, any>();
  const displaySets = new Map<string, any>([['ds', displaySet]]);
  const { service: segmentationService } = fakeSegmentationService({
    images,
    segmentations,
    rows,
    columns,
    labelmapId: (segmentationId, id) => `lm:${segmentationId}:${id}`,
  });
  const libraries = {
    cornerstone: {
      cache: { getImage: (id: string) => images.get(id) },
      metaData: { get: (type: string, id: string) => (type === 'instance' ? metadata.get(id) : undefined) },
      imageLoader: { loadAndCacheImage: async (id: string) => images.get(id) },
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
  let dataSource: HostDataSourceDefinition | undefined;
  const files = new Map<string, ArrayBuffer>();
  let fileReads = 0;
  const dicomLoaderService = {
    findDicomDataPromise: (displaySet: { displaySetInstanceUID: string }) => {
      fileReads++;
      const file = files.get(displaySet.displaySetInstanceUID);
      return file ? Promise.resolve(file.slice(0)) : Promise.reject(new Error('HTTP 404'));
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
        displaySetService: {
          getDisplaySetByUID: (uid: string) => displaySets.get(uid),
          getActiveDisplaySets: () => [...displaySets.values()],
        },
      },
    },
    extensionManager: {
      getModuleEntry: () => ({ exports: { getCornerstoneLibraries: () => libraries, dicomLoaderService } }),
      getActiveDataSourceDefinition: () => dataSource,
    },
    commandsManager: { runCommand: () => undefined },
  } as unknown as HostExtensionParams;

  return {
    params,
    series,
    imageIds,
    pixels,
    values: (k) => images.get(imageIds[k]!).voxelManager.getScalarData() as Float32Array,
    addGroundTruth(id, label, labelmaps, segments, order) {
      const slices = order ?? [...labelmaps.keys()];
      const ids = slices.map((k) => {
        const lm = `gt:${id}:${k}`;
        images.set(lm, {
          imageId: lm,
          rows,
          columns,
          referencedImageId: imageIds[k],
          voxelManager: voxels(labelmaps.get(k)!),
        });
        return lm;
      });
      const segmentObjects = Object.fromEntries(
        Object.entries(segments).map(([index, segmentLabel]) => [
          index,
          { segmentIndex: Number(index), label: segmentLabel },
        ]),
      );
      segmentations.set(id, {
        segmentationId: id,
        label,
        segments: segmentObjects,
        representationData: { Labelmap: { imageIds: ids } },
      });
      displaySets.set(id, {
        displaySetInstanceUID: id,
        SeriesInstanceUID: `series-of-${id}`,
        SOPInstanceUID: `sop-of-${id}`,
      });
    },
    addGroundTruthFile(id, label, masks, { fetchable = true } = {}) {
      const source = sourceSeriesFromInstances(series.instances);
      const frames = imageIds.map((_, k) => masks.get(k) ?? new Uint8Array(pixels));
      const file = buildSegmentation({
        source,
        frames,
        model: { id: 'ground-truth', version: '1', sha256: 'cd'.repeat(32) },
        threshold: 0.5,
        seriesDescription: label,
      });
      if (fetchable) files.set(id, file.data);
      displaySets.set(id, {
        displaySetInstanceUID: id,
        Modality: 'SEG',
        SeriesDescription: label,
        SeriesInstanceUID: file.seriesInstanceUID,
        SOPInstanceUID: file.sopInstanceUID,
        instance: { SegmentSequence: [{ SegmentNumber: 1, SegmentLabel: 'Lesion' }] },
      });
    },
    fileReads: () => fileReads,
    scrollTo: (k) => {
      current = k;
    },
    setDataSource: (definition) => {
      dataSource = definition;
    },
  };
}

/** The map the fake model gives: the slice's values scaled by a fixed 40, clipped to 1. */
export function fakeMap(values: Float32Array): Float32Array {
  return Float32Array.from(values, (v) => Math.min(1, v / 40));
}

export const FAKE_SHA256 = 'ab'.repeat(32);

/** A model that answers at once with fakeMap and a score that grows with the slice's mean. */
export function fakeRegistry(): MapperRegistry {
  const info = {
    backend: 'wasm',
    threads: 1,
    skipped: [],
    modelId: 'fake-model',
    modelVersion: '1.0',
    sha256: FAKE_SHA256,
    fromCache: false,
    networkBytes: 1,
    modelBytes: 1,
    totalMs: 1,
    cacheProblem: null,
    manifest: { threshold: { default: 0.5 } },
  } as unknown as EngineInfo;
  const mapper: SliceMapper = {
    name: 'fake-model 1.0',
    info,
    async compute(slice) {
      const map = fakeMap(slice.values);
      const score = map.reduce((sum, v) => sum + v, 0) / map.length;
      return { map, score, timings: { preprocessMs: 0, inferenceMs: 0, postprocessMs: 0 } };
    },
  };
  return { get: async () => mapper, disposeAll: () => {} };
}
