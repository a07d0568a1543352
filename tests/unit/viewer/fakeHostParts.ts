// Plain-data stand-ins for the two host pieces every fake host of these tests needs, with the
// shapes our viewer/ code reads: a Cornerstone voxel manager, and OHIF's segmentation service
// creating one Uint8 labelmap image per source image (referencedImageId set, as the host does).

/** A voxel manager over a plain array. */
export function voxels(data: Uint8Array | Float32Array) {
  return {
    getAtIndex: (i: number) => data[i],
    setAtIndex: (i: number, v: number) => {
      data[i] = v;
    },
    getScalarData: () => data,
    getScalarDataLength: () => data.length,
  };
}

/**
 * A segmentation service over `segmentations` that puts the labelmap images it creates into
 * `images` (the fake Cornerstone cache), named by `labelmapId`. `shown` holds the ids whose
 * labelmap representation was added to the viewport. Removing one broadcasts
 * SEGMENTATION_REMOVED, as the host does.
 */
export function fakeSegmentationService(options: {
  images: Map<string, any>;
  segmentations: Map<string, any>;
  rows: number;
  columns: number;
  labelmapId: (segmentationId: string, sourceImageId: string) => string;
}) {
  const { images, segmentations, rows, columns, labelmapId } = options;
  const shown = new Set<string>();
  // OHIF's pub/sub: SEGMENTATION_REMOVED is broadcast with { segmentationId } on every removal.
  const removalListeners = new Set<(event: { segmentationId: string }) => void>();
  const service = {
    EVENTS: { SEGMENTATION_REMOVED: 'event::segmentation_removed' },
    subscribe(eventName: string, callback: (event: { segmentationId: string }) => void) {
      if (eventName === 'event::segmentation_removed') removalListeners.add(callback);
      return { unsubscribe: () => void removalListeners.delete(callback) };
    },
    async createLabelmapForDisplaySet(ds: any, { segmentationId, label }: any) {
      const ids = ds.imageIds.map((id: string) => {
        const lm = labelmapId(segmentationId, id);
        images.set(lm, {
          imageId: lm,
          rows,
          columns,
          referencedImageId: id,
          voxelManager: voxels(new Uint8Array(rows * columns)),
        });
        return lm;
      });
      segmentations.set(segmentationId, {
        segmentationId,
        label,
        representationData: { Labelmap: { imageIds: ids, referencedImageIds: ds.imageIds } },
      });
      return segmentationId;
    },
    async addSegmentationRepresentation(_viewportId: string, { segmentationId }: any) {
      shown.add(segmentationId);
    },
    getSegmentation: (id: string) => segmentations.get(id),
    getSegmentations: () => [...segmentations.values()],
    getSegmentationRepresentations: (_vp: string, { segmentationId }: any = {}) =>
      shown.has(segmentationId) ? [{ segmentationId, type: 'Labelmap' }] : [],
    setSegmentColor: () => {},
    /** What OHIF's SegmentationService does on mode exit (destroy → PubSubService.reset). */
    reset: () => removalListeners.clear(),
    remove: (id: string) => {
      if (!segmentations.delete(id)) return;
      shown.delete(id);
      for (const listener of [...removalListeners]) listener({ segmentationId: id });
    },
  };
  return { service, shown };
}
