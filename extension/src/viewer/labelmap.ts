// Our labelmap segmentation in the host: created through OHIF's segmentation service (one
// per display set, id prefixed so it is never confused with the user's own), written
// through the labelmap image's voxel manager, shown on the viewport, removed on request.
import { ANOMALY_SEGMENT_INDEX, SEGMENTATION_ID_PREFIX } from '../ids';
import { ClueInputError } from '../errors';
import type { HostLibraries } from './hostLibraries';
import type { HostDisplaySet, HostSegmentation, HostServices, HostVoxelManager } from './hostTypes';
import { countSegmentVoxels, writeThresholdMask } from './thresholdMask';
import { displayedView, getViewportDisplaySet, resolveViewportId, type PlaneSource } from './readSlice';
import { countPlaneVoxels, writePlaneMask } from './volumePlane';
import type { VoxelWriter } from './thresholdMask';

/** Colour of our segment (RGBA): orange, distinct from OHIF's first default colours. */
export const ANOMALY_SEGMENT_COLOR = [255, 140, 0, 255];

export function clueSegmentationId(displaySetInstanceUID: string): string {
  return `${SEGMENTATION_ID_PREFIX}${displaySetInstanceUID}`;
}

export function isClueSegmentationId(segmentationId: string): boolean {
  return segmentationId.startsWith(SEGMENTATION_ID_PREFIX);
}

// Creations in flight, so two quick runs on one series create one segmentation, not two.
const pendingCreations = new Map<string, Promise<string>>();

/**
 * Makes sure our labelmap for the display set exists and is shown on the viewport.
 * Returns its segmentation id.
 */
export async function ensureClueLabelmap(
  services: HostServices,
  libraries: HostLibraries,
  viewportId: string,
  displaySet: HostDisplaySet,
): Promise<string> {
  const { segmentationService } = services;
  const segmentationId = clueSegmentationId(displaySet.displaySetInstanceUID);

  if (!segmentationService.getSegmentation(segmentationId)) {
    let pending = pendingCreations.get(segmentationId);
    if (!pending) {
      pending = segmentationService
        .createLabelmapForDisplaySet(displaySet, {
          segmentationId,
          label: 'CLUE anomaly map',
          segments: { [ANOMALY_SEGMENT_INDEX]: { label: 'Anomaly (above threshold)', active: true } },
        })
        .finally(() => pendingCreations.delete(segmentationId));
      pendingCreations.set(segmentationId, pending);
    }
    await pending;
  }

  const shown = segmentationService.getSegmentationRepresentations(viewportId, { segmentationId });
  if (shown.length === 0) {
    await segmentationService.addSegmentationRepresentation(viewportId, {
      segmentationId,
      type: libraries.cornerstoneTools.Enums.SegmentationRepresentations.Labelmap,
    });
    if (segmentationService.getSegmentationRepresentations(viewportId, { segmentationId }).length === 0) {
      throw new ClueInputError('The viewer could not show our labelmap on this viewport (incompatible viewport).');
    }
    try {
      segmentationService.setSegmentColor(viewportId, segmentationId, ANOMALY_SEGMENT_INDEX, ANOMALY_SEGMENT_COLOR);
    } catch (error) {
      // Only cosmetic: the host's default colour is fine if this API changes.
      console.warn('[clue] could not set the segment colour', error);
    }
    try {
      // Outline only: the heatmap underneath carries the map's values in colour; a filled
      // labelmap on top would tint them.
      segmentationService.setStyle?.(
        { viewportId, segmentationId, type: libraries.cornerstoneTools.Enums.SegmentationRepresentations.Labelmap },
        {
          renderFill: false,
          renderFillInactive: false,
          renderOutline: true,
          renderOutlineInactive: true,
          outlineWidth: 2,
          outlineWidthInactive: 2,
        },
      );
    } catch (error) {
      console.warn('[clue] could not set the labelmap style', error);
    }
  }
  return segmentationId;
}

/** The labelmap image of `segmentation` that lies on the source image `imageId`. */
export function findLabelmapImageId(
  segmentation: HostSegmentation,
  imageId: string,
  libraries: HostLibraries,
): string | undefined {
  const labelmap = segmentation.representationData.Labelmap;
  const labelmapImageIds = labelmap?.imageIds ?? [];
  // createLabelmapForDisplaySet derives one image per source image, in the same order.
  const index = labelmap?.referencedImageIds?.indexOf(imageId) ?? -1;
  const byIndex = index >= 0 ? labelmapImageIds[index] : undefined;
  if (byIndex && libraries.cornerstone.cache.getImage(byIndex)?.referencedImageId === imageId) {
    return byIndex;
  }
  return labelmapImageIds.find((id) => libraries.cornerstone.cache.getImage(id)?.referencedImageId === imageId);
}

export interface LabelmapWrite {
  labelmapImageId: string;
  /**
   * The result's own voxels at the threshold (map ≥ threshold), counted back from the host's
   * labelmap after the write. The labelmap there may hold more: the voxels of other stored
   * results that cross it (results compose; none erases another's).
   */
  voxelCount: number;
}

/**
 * A labelmap image of ours that does not match the series (not created yet for this image,
 * or of another size): the series is still loading or changed under us.
 */
function labelmapMismatch(what: string): ClueInputError {
  return new ClueInputError(
    `Our labelmap does not match the series yet (${what}); run again after the series has loaded.`,
  );
}

/**
 * A labelmap image's voxel manager as numbers. The host types a voxel manager for any image
 * (a colour image's voxels are RGB triples); labelmap images are one-component Uint8 images,
 * whose manager reads and writes numbers.
 */
function asNumberVoxels(manager: HostVoxelManager): VoxelWriter {
  return manager as unknown as VoxelWriter;
}

/** Our labelmap image's voxels on source image `imageId`, checked to hold `length` voxels. */
function labelmapVoxels(
  segmentation: HostSegmentation,
  imageId: string,
  length: number,
  libraries: HostLibraries,
  which: string,
): { labelmapImageId: string; voxels: VoxelWriter } {
  const labelmapImageId = findLabelmapImageId(segmentation, imageId, libraries);
  if (!labelmapImageId) throw labelmapMismatch(`no labelmap image for ${which}`);
  const manager = libraries.cornerstone.cache.getImage(labelmapImageId)?.voxelManager;
  if (!manager) throw labelmapMismatch(`the labelmap image for ${which} is not in the cache`);
  const voxels = asNumberVoxels(manager);
  const found = manager.getScalarDataLength?.() ?? manager.getScalarData().length;
  if (found !== length)
    throw labelmapMismatch(`the labelmap image for ${which} has ${found} voxels, ${length} expected`);
  return { labelmapImageId, voxels };
}

/**
 * Thresholds `map` into our labelmap image on `imageId`, then tells the host and repaints.
 * `heldElsewhere(pixel)`: voxels other stored results (crossing MPR planes) flag, kept set.
 */
export function writeMapToLabelmap(
  services: HostServices,
  libraries: HostLibraries,
  args: {
    segmentationId: string;
    viewportId: string;
    imageId: string;
    map: Float32Array;
    threshold: number;
    notify?: boolean;
    heldElsewhere?: (pixelIndex: number) => boolean;
  },
): LabelmapWrite {
  const segmentation = services.segmentationService.getSegmentation(args.segmentationId);
  if (!segmentation) throw new ClueInputError('Our segmentation was removed meanwhile; run again.');
  const { labelmapImageId, voxels } = labelmapVoxels(
    segmentation,
    args.imageId,
    args.map.length,
    libraries,
    'this slice',
  );
  const voxelCount = writeThresholdMask(args.map, args.threshold, voxels, ANOMALY_SEGMENT_INDEX, args.heldElsewhere);
  if (args.notify !== false) notifyLabelmapChanged(services, libraries, args.segmentationId, [args.viewportId]);
  return { labelmapImageId, voxelCount };
}

/**
 * The labelmap voxels of source image k of a plane's volume (labelmaps in this Cornerstone
 * are one image per source image, so a sagittal or coronal plane crosses many of them).
 */
function planeLabelmaps(
  segmentation: HostSegmentation,
  source: PlaneSource,
  libraries: HostLibraries,
): (k: number) => VoxelWriter {
  const [dx, dy] = source.volume.dimensions;
  const found = new Map<number, VoxelWriter>();
  return (k) => {
    const known = found.get(k);
    if (known) return known;
    const { voxels } = labelmapVoxels(
      segmentation,
      source.sourceImageIds[k] ?? '',
      dx * dy,
      libraries,
      `image ${k + 1} of the volume`,
    );
    found.set(k, voxels);
    return voxels;
  };
}

/**
 * Thresholds a reformatted plane's map into exactly the labelmap voxels under that plane
 * (other voxels of the crossed labelmap images are left as they are; voxels other stored
 * results flag — `heldElsewhere(sourceImageId, pixel)` — stay set), then tells the host.
 * `labelmapImageId` of the answer is the plane's key: the write spans many labelmap images.
 */
export function writeMapToPlane(
  services: HostServices,
  libraries: HostLibraries,
  args: {
    segmentationId: string;
    viewportId: string;
    source: PlaneSource;
    map: Float32Array;
    threshold: number;
    notify?: boolean;
    heldElsewhere?: (sourceImageId: string, pixelIndex: number) => boolean;
  },
): LabelmapWrite {
  const segmentation = services.segmentationService.getSegmentation(args.segmentationId);
  if (!segmentation) throw new ClueInputError('Our segmentation was removed meanwhile; run again.');
  const { plane, volume, sourceImageIds } = args.source;
  const labelmapAt = planeLabelmaps(segmentation, args.source, libraries);
  const held = args.heldElsewhere;
  const written = writePlaneMask(
    plane,
    volume.dimensions,
    args.map,
    args.threshold,
    labelmapAt,
    ANOMALY_SEGMENT_INDEX,
    held ? (k, pixelIndex) => held(sourceImageIds[k]!, pixelIndex) : undefined,
  );
  if (args.notify !== false) notifyLabelmapChanged(services, libraries, args.segmentationId, [args.viewportId]);
  return { labelmapImageId: plane.key, voxelCount: written.count };
}

/**
 * Tells the host a segmentation's voxels changed (once for many writes). The host's own
 * listener re-renders every viewport showing it; a render() of ours on top would cost a
 * second full frame (~300 ms with software WebGL), so `viewportIds` are only rendered when
 * the segmentation is not shown on them (nothing else would repaint them).
 */
export function notifyLabelmapChanged(
  services: HostServices,
  libraries: HostLibraries,
  segmentationId: string,
  viewportIds: Iterable<string>,
): void {
  libraries.cornerstoneTools.segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(segmentationId);
  for (const viewportId of new Set(viewportIds)) {
    if (services.segmentationService.getSegmentationRepresentations(viewportId, { segmentationId }).length === 0) {
      services.cornerstoneViewportService.getCornerstoneViewport(viewportId)?.render();
    }
  }
}

/** Removes every segmentation of ours from the host; the user's own are left alone. */
export function removeClueSegmentations(services: HostServices): string[] {
  const removed: string[] = [];
  for (const segmentation of services.segmentationService.getSegmentations() ?? []) {
    if (isClueSegmentationId(segmentation.segmentationId)) {
      services.segmentationService.remove(segmentation.segmentationId);
      removed.push(segmentation.segmentationId);
    }
  }
  return removed;
}

/** What the host's state says about our labelmap on the slice a viewport displays. */
export interface LabelmapInspection {
  viewportId: string;
  imageId: string | null;
  segmentationId: string;
  /** Our segmentation exists in the host's segmentation state. */
  exists: boolean;
  /** It is represented (drawn) on this viewport. */
  shownOnViewport: boolean;
  labelmapImageId: string | null;
  rows: number | null;
  columns: number | null;
  /** Voxels equal to our segment index on the displayed slice (0 when none). */
  voxelCount: number;
}

export function inspectDisplayedLabelmap(
  services: HostServices,
  libraries: HostLibraries,
  requestedViewportId?: string,
): LabelmapInspection {
  const viewportId = resolveViewportId(services, requestedViewportId);
  const viewport = services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  const view = viewport ? displayedView(libraries, viewport) : null;
  if (view?.kind === 'plane') return inspectPlaneLabelmap(services, libraries, viewportId, view.source);
  const imageId = view?.imageId ?? null;
  const displaySet = getViewportDisplaySet(services, viewportId, imageId ?? undefined);
  const segmentationId = clueSegmentationId(displaySet.displaySetInstanceUID);
  const segmentation = services.segmentationService.getSegmentation(segmentationId);
  const result: LabelmapInspection = {
    viewportId,
    imageId,
    segmentationId,
    exists: Boolean(segmentation),
    shownOnViewport:
      services.segmentationService.getSegmentationRepresentations(viewportId, { segmentationId }).length > 0,
    labelmapImageId: null,
    rows: null,
    columns: null,
    voxelCount: 0,
  };
  if (!segmentation || !imageId) return result;
  const labelmapImageId = findLabelmapImageId(segmentation, imageId, libraries);
  const image = labelmapImageId ? libraries.cornerstone.cache.getImage(labelmapImageId) : undefined;
  if (!labelmapImageId || !image?.voxelManager) return result;
  const length = image.voxelManager.getScalarDataLength?.() ?? image.voxelManager.getScalarData().length;
  return {
    ...result,
    labelmapImageId,
    rows: image.rows,
    columns: image.columns,
    voxelCount: countSegmentVoxels(asNumberVoxels(image.voxelManager), length, ANOMALY_SEGMENT_INDEX),
  };
}

/** inspectDisplayedLabelmap for a reformatted plane: our voxels under the plane. */
function inspectPlaneLabelmap(
  services: HostServices,
  libraries: HostLibraries,
  viewportId: string,
  source: PlaneSource,
): LabelmapInspection {
  const displaySet = getViewportDisplaySet(services, viewportId, source.sourceImageIds[0]);
  const segmentationId = clueSegmentationId(displaySet.displaySetInstanceUID);
  const segmentation = services.segmentationService.getSegmentation(segmentationId);
  const { plane, volume } = source;
  return {
    viewportId,
    imageId: plane.key,
    segmentationId,
    exists: Boolean(segmentation),
    shownOnViewport:
      services.segmentationService.getSegmentationRepresentations(viewportId, { segmentationId }).length > 0,
    labelmapImageId: segmentation ? plane.key : null,
    rows: plane.rows,
    columns: plane.columns,
    voxelCount: segmentation
      ? countPlaneVoxels(
          plane,
          volume.dimensions,
          planeLabelmaps(segmentation, source, libraries),
          ANOMALY_SEGMENT_INDEX,
        )
      : 0,
  };
}
