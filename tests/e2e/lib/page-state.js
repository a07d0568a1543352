// Functions that run inside the page (page.evaluate / page.waitForFunction) and read the
// host's real state: OHIF's services (window.services) and Cornerstone's cache
// (window.cornerstone), both exposed by the prebuilt viewer. Each is self-contained because
// Playwright serialises it into the page.

/** The image in the active viewport, or null while nothing is displayed and cached yet. */
export function displayedImage() {
  const services = window.services;
  const cs = window.cornerstone;
  if (!services || !cs) return null;
  let viewportId;
  try {
    viewportId = services.viewportGridService.getActiveViewportId();
  } catch {
    return null; // the grid service is not wired up yet (early in start-up)
  }
  const vp = viewportId && services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  const imageId = vp?.getCurrentImageId?.();
  if (!imageId) return null;
  const image = cs.cache.getImage(imageId);
  if (!image) return null;
  const state = services.viewportGridService.getState().viewports.get(viewportId);
  const displaySetUID = state?.displaySetInstanceUIDs?.[0];
  const displaySet = displaySetUID && services.displaySetService.getDisplaySetByUID(displaySetUID);
  const instance = cs.metaData.get('instance', imageId);
  return {
    viewportId,
    imageId,
    imageIndex: vp.getCurrentImageIdIndex(),
    imageCount: vp.getImageIds().length,
    sopInstanceUID: instance?.SOPInstanceUID ?? null,
    seriesInstanceUID: displaySet?.SeriesInstanceUID ?? null,
    rows: image.rows,
    columns: image.columns,
  };
}

/**
 * Scrolls the active viewport to the image with `sopInstanceUID` (test set-up through the
 * viewport's own API); returns false when the displayed series has no such image.
 */
export function jumpToSop(sopInstanceUID) {
  const services = window.services;
  const cs = window.cornerstone;
  const viewportId = services.viewportGridService.getActiveViewportId();
  const vp = services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  const index = vp.getImageIds().findIndex((id) => cs.metaData.get('instance', id)?.SOPInstanceUID === sopInstanceUID);
  if (index < 0) return false;
  vp.setImageIdIndex(index);
  return true;
}

/**
 * Our labelmap on the displayed image, read back from OHIF's segmentation service and
 * Cornerstone's cache: the segmentation (id prefix), whether the viewport shows it, and the
 * voxel count per value on the labelmap image that references the displayed image; with
 * `indicesOf`, also the pixel indices (row-major) holding that value.
 */
export function labelmapOnDisplayedImage({ idPrefix, indicesOf = null }) {
  const services = window.services;
  const cs = window.cornerstone;
  const viewportId = services.viewportGridService.getActiveViewportId();
  const vp = services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  const imageId = vp?.getCurrentImageId?.();
  const segmentations = services.segmentationService.getSegmentations() ?? [];
  const ours = segmentations.filter((s) => s.segmentationId.startsWith(idPrefix));
  if (ours.length === 0) return { found: false, reason: `no segmentation with id prefix ${idPrefix}` };
  const seg = ours[ours.length - 1];
  const representations =
    services.segmentationService.getSegmentationRepresentations(viewportId, {
      segmentationId: seg.segmentationId,
    }) ?? [];
  const labelmapImageIds = seg.representationData?.Labelmap?.imageIds ?? [];
  const labelmapImage = labelmapImageIds
    .map((id) => cs.cache.getImage(id))
    .find((img) => img && img.referencedImageId === imageId);
  if (!labelmapImage) {
    return { found: false, reason: `segmentation ${seg.segmentationId} has no labelmap image for ${imageId}` };
  }
  const data = labelmapImage.voxelManager.getScalarData();
  const counts = {};
  for (let i = 0; i < data.length; i++) if (data[i] !== 0) counts[data[i]] = (counts[data[i]] ?? 0) + 1;
  const indices = [];
  if (indicesOf !== null) for (let i = 0; i < data.length; i++) if (data[i] === indicesOf) indices.push(i);
  return {
    found: true,
    segmentationId: seg.segmentationId,
    segmentationCount: ours.length,
    shownInViewport: representations.length > 0,
    representationTypes: representations.map((r) => r.type),
    imageId,
    labelmapImageId: labelmapImage.imageId,
    voxels: data.length,
    counts,
    ...(indicesOf !== null ? { indices } : {}),
  };
}

/**
 * Test oracle for the labelmap: how many pixels of the displayed image's stored raw map
 * (the model's output on the slice grid, read through the extension's read-only hook) reach
 * `threshold`, compared in float32 as the extension documents. Independent of the labelmap
 * the host holds, which is what the test compares it with.
 */
export function mapExpectedCount({ threshold }) {
  const services = window.services;
  const viewportId = services.viewportGridService.getActiveViewportId();
  const vp = services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  const map = window.__clue.storedMap(vp.getCurrentImageId());
  if (!map) return null;
  const t = Math.fround(threshold);
  let count = 0;
  for (const v of map) if (Math.fround(v) >= t) count++;
  return count;
}

/**
 * A segmentation loaded from a DICOM SEG (not ours): its label and the number of non-zero
 * labelmap voxels over all its images (overlapping segments live in separate layers, so this
 * equals the number of set bits over all segments of a BINARY SEG). Null until loaded.
 */
export function loadedSegVoxels({ label }) {
  const segs = window.services.segmentationService.getSegmentations() ?? [];
  const seg = segs.find((s) => s.label === label);
  if (!seg) return null;
  const ids = seg.representationData?.Labelmap?.imageIds ?? [];
  let nonzero = 0;
  for (const id of ids) {
    const image = window.cornerstone.cache.getImage(id);
    if (!image) return null;
    const data = image.voxelManager.getScalarData();
    for (let i = 0; i < data.length; i++) if (data[i] !== 0) nonzero++;
  }
  return nonzero > 0 ? { segmentationId: seg.segmentationId, images: ids.length, nonzero } : null;
}
