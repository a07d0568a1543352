// Reads the slice displayed in a viewport from the host's Cornerstone cache: real-world
// values (modality LUT applied exactly once), grid size, and geometry.
import { ClueInputError } from '../errors';
import type { ModalityLutInfo } from '../state';
import type { HostLibraries } from './hostLibraries';
import type { HostDisplaySet, HostImage, HostServices, HostStackViewport } from './hostTypes';
import { checkSliceSize } from '../workflow/messages';
import { IDENTITY_LUT, applyModalityLut, linearLutFromAttributes, type LinearModalityLut } from './modalityLut';

export interface SliceGeometry {
  frameOfReferenceUID?: string;
  imagePositionPatient?: number[];
  rowCosines?: number[];
  columnCosines?: number[];
  /** Spacing between rows and between columns, in mm. */
  rowPixelSpacing?: number;
  columnPixelSpacing?: number;
}

export interface DisplayedSlice {
  viewportId: string;
  viewport: HostStackViewport;
  displaySet: HostDisplaySet;
  imageId: string;
  rows: number;
  columns: number;
  /** Real-world values (after the modality LUT), row-major, rows · columns. */
  values: Float32Array;
  modalityLut: ModalityLutInfo;
  geometry: SliceGeometry;
}

interface ModalityLutModule {
  rescaleSlope?: number | string;
  rescaleIntercept?: number | string;
}

interface ImagePlaneModule {
  frameOfReferenceUID?: string;
  imagePositionPatient?: number[];
  rowCosines?: number[];
  columnCosines?: number[];
  rowPixelSpacing?: number;
  columnPixelSpacing?: number;
}

/** The viewport to work on: the one asked for, else the active one. */
export function resolveViewportId(services: HostServices, viewportId?: string): string {
  const id = viewportId ?? services.viewportGridService.getActiveViewportId() ?? services.viewportGridService.getState().activeViewportId;
  if (!id) throw new ClueInputError('No active viewport: open a study first.');
  return id;
}

/** Display sets that hold no images of their own to analyse (derived objects). */
const NON_IMAGE_MODALITIES = new Set(['SEG', 'RTSTRUCT', 'SR', 'PR', 'RTPLAN', 'KO', 'DOC', 'ECG']);

interface DisplaySetWithReference extends HostDisplaySet {
  referencedDisplaySetInstanceUID?: string;
}

/**
 * The image display set a viewport is showing. A viewport may list a derived display set
 * (e.g. a SEG drawn over its series): then the series it references is the one whose
 * images are on screen. With `imageId`, the display set must contain that image.
 */
export function getViewportDisplaySet(services: HostServices, viewportId: string, imageId?: string): HostDisplaySet {
  const uids = services.viewportGridService.getState().viewports.get(viewportId)?.displaySetInstanceUIDs ?? [];
  const candidates: HostDisplaySet[] = [];
  for (const uid of uids) {
    const displaySet = services.displaySetService.getDisplaySetByUID(uid) as DisplaySetWithReference | undefined;
    if (!displaySet) continue;
    candidates.push(displaySet);
    const referenced = displaySet.referencedDisplaySetInstanceUID
      ? services.displaySetService.getDisplaySetByUID(displaySet.referencedDisplaySetInstanceUID)
      : undefined;
    if (referenced) candidates.push(referenced);
  }
  const images = candidates.filter(
    (d) => !d.unsupported && !NON_IMAGE_MODALITIES.has(d.Modality ?? '') && (d.imageIds?.length ?? 0) > 0,
  );
  const match = imageId ? images.find((d) => d.imageIds!.includes(imageId)) : images[0];
  if (match) return match;
  if (candidates.length === 0) throw new ClueInputError('The active viewport shows no series.');
  const shown = candidates[0]!;
  const what = `${shown.Modality ?? 'unknown modality'} series${shown.SeriesDescription ? ` “${shown.SeriesDescription}”` : ''}`;
  throw new ClueInputError(`The active viewport shows a ${what}, which has no images to analyse.`);
}

/**
 * Which modality LUT turns the cached pixels into real-world values. Cornerstone's DICOM
 * loader usually pre-scales while decoding (image.preScale.scaled): then the cache already
 * holds real values and applying the LUT again would be wrong.
 */
export function chooseModalityLut(
  image: Pick<HostImage, 'preScale' | 'slope' | 'intercept'>,
  metadataLut: ModalityLutModule | undefined,
): { toApply: LinearModalityLut; info: ModalityLutInfo } {
  if (image.preScale?.scaled) {
    const params = image.preScale.scalingParameters ?? {};
    return {
      toApply: IDENTITY_LUT,
      info: { slope: params.rescaleSlope ?? 1, intercept: params.rescaleIntercept ?? 0, appliedByLoader: true },
    };
  }
  const lut = linearLutFromAttributes(
    metadataLut?.rescaleSlope ?? image.slope,
    metadataLut?.rescaleIntercept ?? image.intercept,
  );
  return { toApply: lut, info: { ...lut, appliedByLoader: false } };
}

export function readDisplayedSlice(
  services: HostServices,
  libraries: HostLibraries,
  requestedViewportId?: string,
): DisplayedSlice {
  const viewportId = resolveViewportId(services, requestedViewportId);
  const viewport = services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  if (!viewport) {
    getViewportDisplaySet(services, viewportId); // a non-image series (PDF, SR...) gets its own message
    throw new ClueInputError('The active viewport is not ready yet.');
  }
  const { cornerstone } = libraries;
  if (viewport.type !== cornerstone.Enums.ViewportType.STACK) {
    throw new ClueInputError(
      `CLUE runs on stack viewports; the active viewport is a “${viewport.type}” (MPR/volume) viewport, which CLUE cannot read yet. Switch the layout back to a stack (1×1).`,
    );
  }
  const imageId = viewport.getCurrentImageId();
  if (!imageId) {
    getViewportDisplaySet(services, viewportId); // a clearer message when it shows a non-image series
    throw new ClueInputError('The active viewport has no image displayed yet.');
  }
  const displaySet = getViewportDisplaySet(services, viewportId, imageId);
  const image = cornerstone.cache.getImage(imageId);
  if (!image) throw new ClueInputError('The displayed image is not loaded yet; try again in a moment.');
  const pixels = readImageValues(libraries, image, 'displayed image');
  return { viewportId, viewport, displaySet, imageId, ...pixels };
}

/** The pixels of one cached image as real-world values, with the checks every run needs. */
export interface ImageValues {
  rows: number;
  columns: number;
  values: Float32Array;
  modalityLut: ModalityLutInfo;
  geometry: SliceGeometry;
}

export function readImageValues(libraries: HostLibraries, image: HostImage, what = 'image'): ImageValues {
  const { cornerstone } = libraries;
  const imageId = image.imageId;
  const components = image.numberOfComponents ?? (image.color ? 3 : 1);
  if (image.color || components > 1) {
    throw new ClueInputError(`The ${what} is a colour image (${components} components); CLUE needs greyscale.`);
  }
  const rows = image.rows ?? image.height;
  const columns = image.columns ?? image.width;
  if (!rows || !columns) throw new ClueInputError(`The ${what} has no size.`);
  checkSliceSize(rows, columns);
  const stored = image.voxelManager?.getScalarData() ?? image.getPixelData?.();
  if (!stored) throw new ClueInputError(`The ${what} has no pixel data in the cache.`);
  if (stored.length !== rows * columns) {
    throw new ClueInputError(
      `The ${what} has ${stored.length} pixel values for a ${rows}×${columns} grid; multi-component or multi-frame pixel layouts are not supported.`,
    );
  }

  let lut: ReturnType<typeof chooseModalityLut>;
  try {
    lut = chooseModalityLut(image, cornerstone.metaData.get('modalityLutModule', imageId) as ModalityLutModule | undefined);
  } catch (error) {
    throw new ClueInputError(`The ${what} has a bad modality LUT: ${(error as Error).message}`);
  }
  const values = applyModalityLut(stored, lut.toApply);

  const plane = (cornerstone.metaData.get('imagePlaneModule', imageId) ?? {}) as ImagePlaneModule;
  const geometry: SliceGeometry = {
    frameOfReferenceUID: plane.frameOfReferenceUID,
    imagePositionPatient: plane.imagePositionPatient,
    rowCosines: plane.rowCosines,
    columnCosines: plane.columnCosines,
    rowPixelSpacing: plane.rowPixelSpacing,
    columnPixelSpacing: plane.columnPixelSpacing,
  };
  return { rows, columns, values, modalityLut: lut.info, geometry };
}
