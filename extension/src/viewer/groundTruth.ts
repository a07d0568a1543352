// Ground truths for the comparison: the segmentations loaded in the host that are not ours
// (a DICOM SEG the viewer opened, or one the user drew), and their voxels on the slices we
// have maps for. Labelmap images are matched to source images by `referencedImageId`, never
// by position, so a SEG that covers only some slices lines up correctly.
import { ClueInputError } from '../errors';
import type { HostLibraries } from './hostLibraries';
import type { HostSegmentation, HostServices } from './hostTypes';
import { isClueSegmentationId } from './labelmap';

export interface GroundTruthSegment {
  segmentIndex: number;
  label: string;
}

export interface GroundTruthCandidate {
  /** The host's segmentation id; for a SEG not loaded in the viewer, its display set UID. */
  segmentationId: string;
  label: string;
  segments: GroundTruthSegment[];
  /**
   * 'host': a segmentation the viewer has loaded (read from its labelmap); 'file': a SEG of the
   * open studies the viewer has not loaded (or cannot: OHIF 3.13 hangs on some sizes), which
   * CLUE reads from the file itself (dicom/readSegmentation.ts).
   */
  source: 'host' | 'file';
}

function segmentsOf(segmentation: HostSegmentation): GroundTruthSegment[] {
  const list: GroundTruthSegment[] = [];
  for (const [key, segment] of Object.entries(segmentation.segments ?? {})) {
    const segmentIndex = Number(segment?.segmentIndex ?? key);
    if (!segment || !Number.isInteger(segmentIndex) || segmentIndex <= 0) continue;
    list.push({ segmentIndex, label: segment.label || `Segment ${segmentIndex}` });
  }
  return list.sort((a, b) => a.segmentIndex - b.segmentIndex);
}

/**
 * Labelmap segmentations in the host other than ours, then the SEG series of the open studies
 * that are not loaded as one (a loaded SEG's segmentation id is its display set UID).
 */
export function listGroundTruthCandidates(services: HostServices): GroundTruthCandidate[] {
  const loaded = services.segmentationService
    .getSegmentations()
    .filter((s) => !isClueSegmentationId(s.segmentationId) && s.representationData?.Labelmap)
    .map((s) => ({
      segmentationId: s.segmentationId,
      label: s.label || s.segmentationId,
      segments: segmentsOf(s),
      source: 'host' as const,
    }));
  const ids = new Set(loaded.map((c) => c.segmentationId));
  const files = (services.displaySetService.getActiveDisplaySets?.() ?? [])
    .filter((d) => d.Modality === 'SEG' && !ids.has(d.displaySetInstanceUID))
    .map((d) => ({
      segmentationId: d.displaySetInstanceUID,
      label: `${d.SeriesDescription || 'SEG'} (not loaded: read from the file)`,
      segments: segmentsOfMetadata(d.instance?.SegmentSequence),
      source: 'file' as const,
    }));
  return [...loaded, ...files];
}

/** Segments as a SEG's metadata lists them (SegmentSequence), when the data source gave it. */
function segmentsOfMetadata(sequence: unknown): GroundTruthSegment[] {
  if (!Array.isArray(sequence)) return [];
  return sequence
    .map((item: { SegmentNumber?: unknown; SegmentLabel?: unknown }) => ({
      segmentIndex: Number(item?.SegmentNumber),
      label: typeof item?.SegmentLabel === 'string' && item.SegmentLabel ? item.SegmentLabel : '',
    }))
    .filter((s) => Number.isInteger(s.segmentIndex) && s.segmentIndex > 0)
    .map((s) => ({ ...s, label: s.label || `Segment ${s.segmentIndex}` }))
    .sort((a, b) => a.segmentIndex - b.segmentIndex);
}

/**
 * The ground-truth mask (1 = abnormal) of each source image in `images`: voxels equal to
 * `segmentIndex`, or any non-zero voxel when it is null. A source image the segmentation has
 * no labelmap image for counts as empty (a SEG stores only the slices it covers). Throws
 * ClueInputError when the segmentation is gone, has no labelmap images, or a size differs.
 */
export function readGroundTruthMasks(
  services: HostServices,
  libraries: HostLibraries,
  segmentationId: string,
  segmentIndex: number | null,
  images: readonly { imageId: string; pixelCount: number }[],
): { masks: Uint8Array[]; coveredSlices: number } {
  const segmentation = services.segmentationService.getSegmentation(segmentationId);
  if (!segmentation)
    throw new ClueInputError(`The ground truth "${segmentationId}" is no longer loaded in the viewer.`);
  const labelmap = segmentation.representationData.Labelmap;
  if (!labelmap?.imageIds?.length) {
    throw new ClueInputError(
      `The ground truth "${segmentation.label ?? segmentationId}" has no labelmap images the comparison can read (volume-only labelmaps are not supported).`,
    );
  }
  // A SEG with overlapping segments is loaded as several labelmap images per source image
  // (one layer each): every layer referencing the image counts.
  const layers = new Map<string, string[]>();
  for (const labelmapImageId of labelmap.imageIds) {
    const referenced = libraries.cornerstone.cache.getImage(labelmapImageId)?.referencedImageId;
    if (!referenced) continue;
    if (!layers.has(referenced)) layers.set(referenced, []);
    layers.get(referenced)!.push(labelmapImageId);
  }
  let coveredSlices = 0;
  const masks = images.map(({ imageId, pixelCount }) => {
    const mask = new Uint8Array(pixelCount);
    const voxelManagers = (layers.get(imageId) ?? [])
      .map((id) => libraries.cornerstone.cache.getImage(id)?.voxelManager)
      .filter((v): v is NonNullable<typeof v> => v !== undefined);
    if (voxelManagers.length === 0) return mask;
    coveredSlices++;
    for (const voxels of voxelManagers) {
      const data = voxels.getScalarData();
      if (data.length !== pixelCount) {
        throw new ClueInputError(
          `The ground truth's labelmap has ${data.length} voxels on a slice where the map has ${pixelCount}: it is not on the image's grid.`,
        );
      }
      for (let i = 0; i < pixelCount; i++) {
        const v = data[i]!;
        if (segmentIndex === null ? v !== 0 : v === segmentIndex) mask[i] = 1;
      }
    }
    return mask;
  });
  return { masks, coveredSlices };
}
