// Reads the slice displayed in a viewport from the host's Cornerstone cache: real-world
// values (modality LUT applied exactly once), grid size, and acquisition attributes.
import { ClueInputError } from '../errors';
import type { ModalityLutInfo } from './modalityLut';
import type { HostLibraries } from './hostLibraries';
import type { HostDisplaySet, HostImage, HostImageVolume, HostServices, HostStackViewport } from './hostTypes';
import {
  checkSliceSize,
  colourImageMessage,
  imageLoadFailedMessage,
  undecodableTransferSyntaxMessage,
} from './imageMessages';
import type { SliceAttributes } from '../domain/domain';
import { imageTransferSyntax, transferSyntaxName, undecodableTransferSyntax } from './transferSyntax';
import { IDENTITY_LUT, applyModalityLut, linearLutFromAttributes, type LinearModalityLut } from './modalityLut';
import {
  extractPlane,
  planeFromCamera,
  planeSourceIndices,
  type PlaneSource,
  type Vec3,
  type VolumeGeometry,
  type VolumePlane,
} from './volumePlane';

export type { PlaneSource };

/** One slice's pixels, ready for the model: the displayed slice, or a series image read by id. */
export interface SliceToMap extends ImageValues {
  viewportId: string;
  displaySetInstanceUID: string;
  /** The image, or for a reformatted plane of a volume its key (plane.key). */
  imageId: string;
  /** Set for a reformatted (non-acquisition) plane of a volume viewport. */
  plane?: PlaneSource;
}

/** The slice a viewport displays, and the images a series run from it covers, in order. */
export interface DisplayedSlice extends SliceToMap {
  /** The display set's images (the viewport's stack order); on an MPR viewport, the volume's source images. */
  seriesImageIds: string[];
}

interface ModalityLutModule {
  rescaleSlope?: number | string;
  rescaleIntercept?: number | string;
}

/** The viewport to work on: the one asked for, else the active one. */
export function resolveViewportId(services: HostServices, viewportId?: string): string {
  const id =
    viewportId ??
    services.viewportGridService.getActiveViewportId() ??
    services.viewportGridService.getState().activeViewportId;
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
  if (isOrthographic(libraries, viewport)) return readDisplayedPlane(services, libraries, viewportId, viewport);
  if (viewport.type !== cornerstone.Enums.ViewportType.STACK) {
    throw new ClueInputError(
      `CLUE runs on stack and MPR (orthographic volume) viewports; the active viewport is a “${viewport.type}” viewport (e.g. 3D rendering). Switch the layout to a stack (1×1) or MPR.`,
    );
  }
  const imageId = viewport.getCurrentImageId();
  if (!imageId) {
    getViewportDisplaySet(services, viewportId); // a clearer message when it shows a non-image series
    throw new ClueInputError('The active viewport has no image displayed yet.');
  }
  const displaySet = getViewportDisplaySet(services, viewportId, imageId);
  const image = cornerstone.cache.getImage(imageId);
  if (!image) throw notLoadedError(libraries, imageId, 'displayed image');
  const pixels = readImageValues(libraries, image, 'displayed image');
  const seriesImageIds = viewport.getImageIds?.() ?? displaySet.imageIds ?? [];
  return { viewportId, displaySetInstanceUID: displaySet.displaySetInstanceUID, imageId, seriesImageIds, ...pixels };
}

/**
 * Throws when the host has no decoder for the image's transfer syntax (from its instance
 * metadata): such an image never reaches the cache, and the message says what to do about it.
 */
export function checkDecodable(libraries: HostLibraries, imageId: string, what: string): void {
  const undecodable = undecodableTransferSyntax(libraries, imageId);
  if (undecodable) throw new ClueInputError(undecodableTransferSyntaxMessage(what, undecodable.uid, undecodable.name));
}

/**
 * Why an image is not in the host's cache: a transfer syntax the host cannot decode (it
 * never will be, so "try again" would mislead), else it is still loading.
 */
function notLoadedError(libraries: HostLibraries, imageId: string, what: string): ClueInputError {
  checkDecodable(libraries, imageId, what);
  return new ImageNotCachedError(`The ${what} is not loaded yet; try again in a moment.`, imageId, what);
}

/** The displayed image is not in the host's cache: an async caller asks the loader for it. */
export class ImageNotCachedError extends ClueInputError {
  constructor(
    message: string,
    readonly imageId: string,
    readonly what: string,
  ) {
    super(message);
  }
}

/** What a failed load says, short: an Error's message, else the HTTP status of a failed request. */
function loadErrorDetail(error: unknown): string | undefined {
  if (error instanceof Error && error.message) return error.message;
  const e = (error ?? {}) as { status?: unknown; statusText?: unknown; message?: unknown; error?: unknown };
  if (typeof e.message === 'string' && e.message) return e.message;
  if (typeof e.status === 'number' && e.status > 0)
    return `the server answered HTTP ${e.status}${typeof e.statusText === 'string' && e.statusText ? ` ${e.statusText}` : ''}`;
  if (e.error instanceof Error) return e.error.message;
  return typeof error === 'string' && error ? error : undefined;
}

/**
 * The image from the host's loader (its in-flight load when there is one). When the loader
 * rejects it, that rejection is the signal: the message names the transfer syntax and says
 * waiting will not help, instead of "not loaded yet; try again".
 */
export async function loadImageOrExplain(libraries: HostLibraries, imageId: string, what: string): Promise<HostImage> {
  checkDecodable(libraries, imageId, what);
  try {
    return await libraries.cornerstone.imageLoader.loadAndCacheImage(imageId);
  } catch (error) {
    const uid = imageTransferSyntax(libraries, imageId);
    const name = uid ? transferSyntaxName(uid) : undefined;
    throw new ClueInputError(
      imageLoadFailedMessage(what, uid ? (name ? `${name} (${uid})` : uid) : undefined, loadErrorDetail(error)),
    );
  }
}

/**
 * readDisplayedSlice, waiting for the displayed image when it is still loading: a load the
 * host's loader rejects gets its own message (loadImageOrExplain).
 */
export async function readDisplayedSliceLoaded(
  services: HostServices,
  libraries: HostLibraries,
  viewportId?: string,
): Promise<DisplayedSlice> {
  try {
    return readDisplayedSlice(services, libraries, viewportId);
  } catch (error) {
    if (!(error instanceof ImageNotCachedError)) throw error;
    await loadImageOrExplain(libraries, error.imageId, error.what);
    return readDisplayedSlice(services, libraries, viewportId);
  }
}

/** PhotometricInterpretation from the host's metadata (instance, else Cornerstone's imagePixelModule). */
function photometricInterpretation(libraries: HostLibraries, imageId: string): string | undefined {
  const { metaData } = libraries.cornerstone;
  const instance = (metaData.get('instance', imageId) ?? {}) as Record<string, unknown>;
  const pixelModule = (metaData.get('imagePixelModule', imageId) ?? {}) as { photometricInterpretation?: unknown };
  return text(instance.PhotometricInterpretation) ?? text(pixelModule.photometricInterpretation);
}

/** The pixels of one cached image as real-world values, with the checks every run needs. */
export interface ImageValues {
  rows: number;
  columns: number;
  values: Float32Array;
  modalityLut: ModalityLutInfo;
  /** What the slice's DICOM attributes say about its acquisition (for the domain check). */
  attributes: SliceAttributes;
}

const text = (value: unknown): string | undefined => {
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first.trim() !== '' ? first.trim() : undefined;
};
const numbers = (value: unknown, count: number): number[] | undefined => {
  if (!Array.isArray(value) || value.length !== count) return undefined;
  const list = value.map(Number);
  return list.every(Number.isFinite) ? list : undefined;
};

/**
 * The acquisition attributes of an image, from the host's naturalized instance metadata.
 * Orientation and spacing come from ImageOrientationPatient and PixelSpacing themselves:
 * the host's imagePlaneModule puts an axial orientation and 1 mm in their place when an
 * image lacks them, which would pass a radiograph off as an axial 1 mm slice.
 */
export function readSliceAttributes(libraries: HostLibraries, imageId: string): SliceAttributes {
  const instance = (libraries.cornerstone.metaData.get('instance', imageId) ?? {}) as Record<string, unknown>;
  const scanning = instance.ScanningSequence;
  const scanningSequence = (
    Array.isArray(scanning) ? scanning : typeof scanning === 'string' ? scanning.split('\\') : []
  )
    .filter((v): v is string => typeof v === 'string' && v.trim() !== '')
    .map((v) => v.trim());
  const attributes: SliceAttributes = {
    modality: text(instance.Modality),
    bodyPartExamined: text(instance.BodyPartExamined),
    seriesDescription: text(instance.SeriesDescription),
    protocolName: text(instance.ProtocolName),
    scanningSequence: scanningSequence.length ? scanningSequence : undefined,
    sequenceName: text(instance.SequenceName),
    contrastBolusAgent: text(instance.ContrastBolusAgent),
    imageOrientationPatient: numbers(instance.ImageOrientationPatient, 6),
    pixelSpacing: numbers(instance.PixelSpacing, 2),
  };
  // Only what the image records: an absent key means the attribute is not there.
  return Object.fromEntries(Object.entries(attributes).filter(([, v]) => v !== undefined)) as SliceAttributes;
}

/**
 * One cached image's stored pixels and the modality LUT that turns them into real-world
 * values, with the checks every read needs (greyscale, pixels in the cache, a usable LUT):
 * shared by image reads and MPR plane reads, so both refuse the same images the same way.
 */
function cachedPixels(
  libraries: HostLibraries,
  image: HostImage,
  what: string,
): { stored: ArrayLike<number>; lut: ReturnType<typeof chooseModalityLut> } {
  const { cornerstone } = libraries;
  const components = image.numberOfComponents ?? (image.color ? 3 : 1);
  const photometric = photometricInterpretation(libraries, image.imageId);
  // A palette colour image is refused even if its cached pixels were left as one component:
  // they would be palette indices, not intensities.
  if (image.color || components > 1 || photometric === 'PALETTE COLOR') {
    throw new ClueInputError(colourImageMessage(what, photometric, components));
  }
  const stored = image.voxelManager?.getScalarData() ?? image.getPixelData?.();
  if (!stored) throw new ClueInputError(`The ${what} has no pixel data in the cache.`);
  try {
    return {
      stored,
      lut: chooseModalityLut(
        image,
        cornerstone.metaData.get('modalityLutModule', image.imageId) as ModalityLutModule | undefined,
      ),
    };
  } catch (error) {
    throw new ClueInputError(`The ${what} has a bad modality LUT: ${(error as Error).message}`);
  }
}

export function readImageValues(libraries: HostLibraries, image: HostImage, what = 'image'): ImageValues {
  const imageId = image.imageId;
  const rows = image.rows ?? image.height;
  const columns = image.columns ?? image.width;
  const { stored, lut } = cachedPixels(libraries, image, what);
  if (!rows || !columns) throw new ClueInputError(`The ${what} has no size.`);
  checkSliceSize(rows, columns);
  if (stored.length !== rows * columns) {
    throw new ClueInputError(
      `The ${what} has ${stored.length} pixel values for a ${rows}×${columns} grid; multi-component or multi-frame pixel layouts are not supported.`,
    );
  }

  const values = applyModalityLut(stored, lut.toApply);

  return {
    rows,
    columns,
    values,
    modalityLut: lut.info,
    attributes: readSliceAttributes(libraries, imageId),
  };
}

function isOrthographic(libraries: HostLibraries, viewport: HostStackViewport): boolean {
  return viewport.type === (libraries.cornerstone.Enums.ViewportType.ORTHOGRAPHIC ?? 'orthographic');
}

/** The volume a volume viewport displays, from the host's cache. */
function viewportVolume(libraries: HostLibraries, viewport: HostStackViewport): HostImageVolume | undefined {
  const volumeId = viewport.getVolumeId?.() ?? viewport.getAllVolumeIds?.()[0];
  return volumeId ? libraries.cornerstone.cache.getVolume?.(volumeId) : undefined;
}

function geometryOf(volume: HostImageVolume): VolumeGeometry {
  const triple = (v: ArrayLike<number>): Vec3 => [Number(v[0]), Number(v[1]), Number(v[2])];
  return {
    dimensions: triple(volume.dimensions),
    spacing: triple(volume.spacing),
    origin: triple(volume.origin),
    direction: volume.direction,
  };
}

/**
 * The plane a volume viewport displays, from its camera and volume; null when it shows no
 * axis-aligned plane of a cached volume (`throwing` turns those cases into panel messages).
 */
function displayedPlane(
  libraries: HostLibraries,
  viewport: HostStackViewport,
  throwing: boolean,
): { volume: HostImageVolume; geometry: VolumeGeometry; plane: VolumePlane } | null {
  const volume = viewportVolume(libraries, viewport);
  const camera = viewport.getCamera?.();
  if (!volume || !camera?.viewPlaneNormal || !camera.viewUp || !camera.focalPoint) {
    if (throwing) throw new ClueInputError('The MPR viewport has no volume loaded yet; try again in a moment.');
    return null;
  }
  const geometry = geometryOf(volume);
  const [dx, dy, dz] = geometry.dimensions;
  const components = volume.numberOfComponents ?? 1;
  if (throwing && components !== 1 && volume.imageIds[0]) {
    // A colour volume: the same message as for a colour image (palette colour named as such).
    throw new ClueInputError(
      colourImageMessage('MPR volume’s image 1', photometricInterpretation(libraries, volume.imageIds[0]), components),
    );
  }
  if (volume.imageIds.length !== dz || components !== 1) {
    if (throwing)
      throw new ClueInputError(
        `The MPR volume is not one greyscale image per slice (${volume.imageIds.length} images for ${dx}×${dy}×${dz} voxels); CLUE cannot read it.`,
      );
    return null;
  }
  const camera3 = { viewPlaneNormal: camera.viewPlaneNormal, viewUp: camera.viewUp, focalPoint: camera.focalPoint };
  if (throwing) return { volume, geometry, plane: planeFromCamera(geometry, camera3) };
  try {
    return { volume, geometry, plane: planeFromCamera(geometry, camera3) };
  } catch {
    return null;
  }
}

/** What a viewport displays, as results are keyed: an image, or a reformatted plane. */
export type DisplayedView = { kind: 'image'; imageId: string } | { kind: 'plane'; key: string; source: PlaneSource };

/**
 * What a viewport displays now (for the overlay on every render): never throws. A volume
 * viewport showing the acquisition plane displays one source image, exactly as a stack does,
 * so it shares that image's stored result.
 */
export function displayedView(libraries: HostLibraries, viewport: HostStackViewport): DisplayedView | null {
  if (!isOrthographic(libraries, viewport)) {
    const imageId = viewport.getCurrentImageId();
    return imageId ? { kind: 'image', imageId } : null;
  }
  const shown = displayedPlane(libraries, viewport, false);
  if (!shown) return null;
  const { volume, geometry, plane } = shown;
  if (plane.normalAxis === 2) {
    const imageId = volume.imageIds[plane.index];
    return imageId ? { kind: 'image', imageId } : null;
  }
  return {
    kind: 'plane',
    key: plane.key,
    source: { volumeId: volume.volumeId, volume: geometry, plane, sourceImageIds: volume.imageIds },
  };
}

/**
 * The modality LUT reported for a plane read from many source images: the first image's,
 * marked `perImage` when the images' LUTs differ (each image's own was applied to its pixels).
 */
export function planeModalityLut(luts: ModalityLutInfo[]): ModalityLutInfo {
  const first = luts[0];
  if (!first) throw new ClueInputError('The plane crosses no image of the volume.');
  const same = luts.every(
    (l) => l.slope === first.slope && l.intercept === first.intercept && l.appliedByLoader === first.appliedByLoader,
  );
  return same ? first : { ...first, perImage: true };
}

/**
 * Reads the plane an MPR viewport displays from its volume's source images (the volume's
 * voxels are those images' cached pixels), modality LUT applied per image as for stacks.
 */
function readDisplayedPlane(
  services: HostServices,
  libraries: HostLibraries,
  viewportId: string,
  viewport: HostStackViewport,
): DisplayedSlice {
  const { volume, geometry, plane } = displayedPlane(libraries, viewport, true)!;
  const { cornerstone } = libraries;
  const displaySet = getViewportDisplaySet(services, viewportId, volume.imageIds[0]);
  if (plane.normalAxis === 2) {
    // The acquisition plane: exactly one source image, read and stored as for a stack.
    const imageId = volume.imageIds[plane.index]!;
    const image = cornerstone.cache.getImage(imageId);
    if (!image) throw notLoadedError(libraries, imageId, 'displayed image of the volume');
    return {
      viewportId,
      displaySetInstanceUID: displaySet.displaySetInstanceUID,
      imageId,
      seriesImageIds: volume.imageIds,
      ...readImageValues(libraries, image, 'displayed image'),
    };
  }
  checkSliceSize(plane.rows, plane.columns);
  const sourceIndices = planeSourceIndices(plane, geometry.dimensions);
  const missing = sourceIndices.filter((k) => !cornerstone.cache.getImage(volume.imageIds[k]!));
  if (missing.length > 0) {
    // An image the host cannot decode never arrives: say so rather than "still loading".
    checkDecodable(libraries, volume.imageIds[missing[0]!]!, `volume’s image ${missing[0]! + 1}`);
    throw new ClueInputError(
      `The volume is still loading (${missing.length} of ${sourceIndices.length} images missing); run again when it has loaded.`,
    );
  }
  const luts: ModalityLutInfo[] = [];
  const values = extractPlane(plane, geometry.dimensions, (k) => {
    const { stored, lut } = cachedPixels(
      libraries,
      cornerstone.cache.getImage(volume.imageIds[k]!)!,
      `volume’s image ${k + 1}`,
    );
    luts.push(lut.info);
    return { stored, slope: lut.toApply.slope, intercept: lut.toApply.intercept };
  });
  const modalityLut = planeModalityLut(luts);
  const rowDirection = Array.from(geometry.direction)
    .slice(plane.columnAxis * 3, plane.columnAxis * 3 + 3)
    .map((v) => v * plane.columnStep);
  const columnDirection = Array.from(geometry.direction)
    .slice(plane.rowAxis * 3, plane.rowAxis * 3 + 3)
    .map((v) => v * plane.rowStep);
  // The series' attributes, with the reformatted plane's own orientation and spacing.
  const attributes: SliceAttributes = {
    ...readSliceAttributes(libraries, volume.imageIds[0]!),
    imageOrientationPatient: [...rowDirection, ...columnDirection],
    pixelSpacing: [plane.rowPixelSpacing, plane.columnPixelSpacing],
  };
  return {
    viewportId,
    displaySetInstanceUID: displaySet.displaySetInstanceUID,
    imageId: plane.key,
    seriesImageIds: volume.imageIds,
    plane: { volumeId: volume.volumeId, volume: geometry, plane, sourceImageIds: volume.imageIds },
    rows: plane.rows,
    columns: plane.columns,
    values,
    modalityLut,
    attributes,
  };
}
