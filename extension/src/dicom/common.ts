// What the SEG and the Parametric Map share: identity of the model, the modules copied from
// the source (patient, study, frame of reference), the multi-frame geometry that ties each
// frame to its source image, and the Part-10 writer (dcmjs).
import dcmjs from 'dcmjs';

import type { ModelIdentity } from '../modelIdentity';
import { checkSource, DicomBuildError, type SourceImage, type SourceSeries } from './source';

// The same model identity the results export records (id, version, sha256 of the file that ran).
export type { ModelIdentity };

const { DicomDict, DicomMetaDictionary } = dcmjs.data;

export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** Our implementation UID (a UUID-derived 2.25 root, fixed) and version name (≤ 16 chars). */
export const IMPLEMENTATION_CLASS_UID = '2.25.157283651249386510745672893420718903291';
export const IMPLEMENTATION_VERSION_NAME = 'CLUE_OHIF_0_1';
export const MANUFACTURER = 'CLUE for OHIF';

export interface DerivedObjectOptions {
  /** Defaults to now. */
  createdAt?: Date;
  seriesNumber?: number;
  seriesDescription?: string;
  /** UID generator (tests pass a deterministic one); defaults to dcmjs' 2.25 random UIDs. */
  newUid?: () => string;
}

/** A Part-10 file and the identity STOW-RS reports it by. */
export interface DicomPart10File {
  data: ArrayBuffer;
  sopClassUID: string;
  sopInstanceUID: string;
  seriesInstanceUID: string;
  studyInstanceUID: string;
}

export interface CodedConcept {
  CodeValue: string;
  CodingSchemeDesignator: string;
  CodeMeaning: string;
}

export function code(value: string, scheme: string, meaning: string): CodedConcept {
  return { CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning };
}

export const CODES = {
  artificialIntelligence: code('123110', 'DCM', 'Artificial Intelligence'),
  sourceImageForProcessing: code('121322', 'DCM', 'Source image for image processing operation'),
  segmentation: code('113076', 'DCM', 'Segmentation'),
  morphologicallyAbnormalStructure: code('49755003', 'SCT', 'Morphologically Abnormal Structure'),
  lesion: code('52988006', 'SCT', 'Lesion'),
  arbitraryUnit: code("[arb'U]", 'UCUM', 'arbitrary unit'),
} as const;

/** A DS value: the shortest decimal text of at most 16 characters (DICOM's limit). */
export function decimalString(value: number): string {
  if (!Number.isFinite(value)) throw new DicomBuildError(`${value} cannot be written as a DICOM decimal`);
  let textValue = String(value);
  for (let digits = 16; textValue.length > 16 && digits > 0; digits--) {
    textValue = String(Number(value.toPrecision(digits)));
    if (textValue.length > 16) textValue = value.toPrecision(digits).replace(/\.?0+(e|$)/, '$1');
  }
  return textValue;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
export function dicomDate(date: Date): string {
  return `${date.getUTCFullYear()}${pad(date.getUTCMonth() + 1)}${pad(date.getUTCDate())}`;
}
export function dicomTime(date: Date): string {
  return `${pad(date.getUTCHours())}${pad(date.getUTCMinutes())}${pad(date.getUTCSeconds())}.${pad(date.getUTCMilliseconds(), 3)}`;
}

/**
 * AlgorithmVersion (LO, at most 64 characters): the model version and as much of the sha256
 * as fits (at least 16 hex digits); the full hash is in AlgorithmParameters.
 */
export function algorithmVersion(model: ModelIdentity): string {
  const version = model.version.slice(0, 40);
  const room = Math.max(16, 64 - version.length - ' sha256:'.length);
  return `${version} sha256:${model.sha256.slice(0, room)}`.slice(0, 64);
}

/**
 * The Algorithm Identification macro (the SEG's segment, the map's real-world value mapping):
 * family "Artificial Intelligence", name CLUE, version + sha256, and the full model identity
 * (plus any extra parameters, e.g. the threshold) in AlgorithmParameters (LT).
 */
export function algorithmIdentification(model: ModelIdentity, threshold?: number): Record<string, unknown> {
  return {
    AlgorithmFamilyCodeSequence: [CODES.artificialIntelligence],
    AlgorithmName: 'CLUE',
    AlgorithmVersion: algorithmVersion(model),
    AlgorithmParameters: algorithmParameters(model, threshold),
  };
}

/** `model_id=…; model_version=…; model_sha256=<full hex>[; threshold=…]` */
export function algorithmParameters(model: ModelIdentity, threshold?: number): string {
  const parameters: Record<string, string | number> = {
    model_id: model.id,
    model_version: model.version,
    model_sha256: model.sha256,
    ...(threshold === undefined ? {} : { threshold }),
  };
  return Object.entries(parameters)
    .map(([key, value]) => `${key}=${value}`)
    .join('; ');
}

/** Patient, General Study and Frame of Reference attributes copied from the source. */
export function patientStudyFrameOfReference(source: SourceSeries): Record<string, unknown> {
  const ps = source.patientStudy;
  return {
    // Type 2 attributes are present even when the source had no value.
    PatientName: ps.PatientName ?? '',
    PatientID: ps.PatientID ?? '',
    PatientBirthDate: ps.PatientBirthDate ?? '',
    PatientSex: ps.PatientSex ?? '',
    StudyInstanceUID: source.studyInstanceUID,
    StudyDate: ps.StudyDate ?? '',
    StudyTime: ps.StudyTime ?? '',
    StudyID: ps.StudyID ?? '',
    AccessionNumber: ps.AccessionNumber ?? '',
    ReferringPhysicianName: ps.ReferringPhysicianName ?? '',
    ...(ps.StudyDescription ? { StudyDescription: ps.StudyDescription } : {}),
    FrameOfReferenceUID: source.frameOfReferenceUID,
    PositionReferenceIndicator: '',
  };
}

export function equipment(model: ModelIdentity): Record<string, unknown> {
  return {
    Manufacturer: MANUFACTURER,
    ManufacturerModelName: `CLUE ${model.id}`.slice(0, 64),
    DeviceSerialNumber: model.sha256.slice(0, 16) || 'unknown',
    SoftwareVersions: algorithmVersion(model),
  };
}

function sameNumbers(a: readonly number[], b: readonly number[], tolerance = 1e-6): boolean {
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= tolerance);
}

/** Unit normal of an image plane (row cosines × column cosines). */
function planeNormal(image: SourceImage): [number, number, number] {
  const [rx, ry, rz, cx, cy, cz] = image.imageOrientationPatient;
  return [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
}

/**
 * The frame order we write: ascending position along the plane normal (row × column cosines),
 * ties kept in the given order. OHIF's Parametric Map loader (cornerstone adapters 3.13) copies
 * the map's frames straight into a volume sorted that way, ignoring the per-frame references,
 * so any other order would show the map on the wrong slices. Returns indices into source.images.
 */
export function frameOrderAlongNormal(source: SourceSeries): number[] {
  const normal = planeNormal(source.images[0]!);
  const along = source.images.map((im) => im.imagePositionPatient.reduce((sum, v, axis) => sum + v * normal[axis]!, 0));
  return along.map((_, index) => index).sort((a, b) => along[a]! - along[b]! || a - b);
}

/**
 * Checks that there is one frame per source image, each of the source's size, and returns
 * both in ascending position along the normal (see frameOrderAlongNormal): the order SEG and
 * Parametric Map frames are written in. `what` names the frames in errors.
 */
export function framesAlongNormal<T extends ArrayLike<number>>(
  givenSource: SourceSeries,
  givenFrames: readonly T[],
  what: 'mask' | 'map',
): { source: SourceSeries; frames: T[]; rows: number; columns: number } {
  const { rows, columns } = checkSource(givenSource);
  if (givenFrames.length !== givenSource.images.length) {
    throw new DicomBuildError(`${givenFrames.length} ${what} frames for ${givenSource.images.length} source images`);
  }
  givenFrames.forEach((frame, index) => {
    if (frame.length !== rows * columns) {
      const unit = what === 'mask' ? 'pixels' : 'values';
      throw new DicomBuildError(
        `${what} frame ${index} has ${frame.length} ${unit}, the source image ${rows}×${columns}`,
      );
    }
  });
  return { ...orderedAlongNormal(givenSource, givenFrames), rows, columns };
}

/** The source and the frames, both reordered by frameOrderAlongNormal. */
export function orderedAlongNormal<T>(
  source: SourceSeries,
  frames: readonly T[],
): { source: SourceSeries; frames: T[] } {
  const order = frameOrderAlongNormal(source);
  return { source: { ...source, images: order.map((i) => source.images[i]!) }, frames: order.map((i) => frames[i]!) };
}

/**
 * The geometry functional groups. Orientation and pixel measures are shared when every source
 * image agrees, per frame otherwise; the position is always per frame. Also returns, for each
 * frame, its 1-based index along the stack normal (the position dimension's index value).
 */
export function geometry(source: SourceSeries): {
  shared: Record<string, unknown>;
  perFrame: Record<string, unknown>[];
  positionIndex: number[];
} {
  const images = source.images;
  const first = images[0]!;
  const sharedOrientation = images.every((im) =>
    sameNumbers(im.imageOrientationPatient, first.imageOrientationPatient),
  );
  const sharedMeasures = images.every(
    (im) =>
      sameNumbers(im.pixelSpacing, first.pixelSpacing) &&
      (im.sliceThickness ?? null) === (first.sliceThickness ?? null),
  );
  const normal = planeNormal(first);
  const along = images.map((im) => im.imagePositionPatient.reduce((sum, v, axis) => sum + v * normal[axis]!, 0));
  // Slice thickness is required by the pixel measures of both IODs; when the source has none,
  // the spacing between neighbouring positions is the honest stand-in (1 mm for one slice).
  const sorted = [...along].sort((a, b) => a - b);
  const gaps = sorted
    .slice(1)
    .map((v, i) => v - sorted[i]!)
    .filter((g) => g > 1e-6);
  const fallbackThickness = gaps.length ? Math.min(...gaps) : 1;
  const orientationOf = (im: SourceImage) => ({
    PlaneOrientationSequence: [{ ImageOrientationPatient: im.imageOrientationPatient.map(decimalString) }],
  });
  const measuresOf = (im: SourceImage) => ({
    PixelMeasuresSequence: [
      {
        PixelSpacing: im.pixelSpacing.map(decimalString),
        SliceThickness: decimalString(im.sliceThickness ?? fallbackThickness),
      },
    ],
  });
  const shared: Record<string, unknown> = {
    ...(sharedOrientation ? orientationOf(first) : {}),
    ...(sharedMeasures ? measuresOf(first) : {}),
  };
  const distinct = [...new Set(along.map((v) => Math.round(v * 1e4)))].sort((a, b) => a - b);
  const positionIndex = along.map((v) => distinct.indexOf(Math.round(v * 1e4)) + 1);
  const perFrame = images.map((im) => ({
    PlanePositionSequence: [{ ImagePositionPatient: im.imagePositionPatient.map(decimalString) }],
    ...(sharedOrientation ? {} : orientationOf(im)),
    ...(sharedMeasures ? {} : measuresOf(im)),
  }));
  return { shared, perFrame, positionIndex };
}

/** Derivation Image functional group item: this frame was derived from that source image. */
export function derivationImage(image: SourceImage, derivationCode: CodedConcept): Record<string, unknown> {
  return {
    DerivationImageSequence: [
      {
        DerivationCodeSequence: [derivationCode],
        SourceImageSequence: [
          {
            ReferencedSOPClassUID: image.sopClassUID,
            ReferencedSOPInstanceUID: image.sopInstanceUID,
            PurposeOfReferenceCodeSequence: [CODES.sourceImageForProcessing],
            // Our frames are on the source image's own grid (readers such as highdicom index
            // frames by source image only when this says so).
            SpatialLocationsPreserved: 'YES',
          },
        ],
      },
    ],
  };
}

/** Common Instance Reference module: the source series and every instance in it we used. */
export function referencedSeries(source: SourceSeries): Record<string, unknown> {
  return {
    ReferencedSeriesSequence: [
      {
        SeriesInstanceUID: source.seriesInstanceUID,
        ReferencedInstanceSequence: source.images.map((im) => ({
          ReferencedSOPClassUID: im.sopClassUID,
          ReferencedSOPInstanceUID: im.sopInstanceUID,
        })),
      },
    ],
  };
}

/** Serialises a naturalized dataset as a Part-10 file (explicit VR little endian). */
export function writePart10(dataset: Record<string, unknown>): ArrayBuffer {
  const sopClassUID = dataset.SOPClassUID as string;
  const sopInstanceUID = dataset.SOPInstanceUID as string;
  // File meta information, keyed by tag as dcmjs' writer expects.
  const meta = {
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: [sopClassUID] },
    '00020003': { vr: 'UI', Value: [sopInstanceUID] },
    '00020010': { vr: 'UI', Value: [EXPLICIT_VR_LITTLE_ENDIAN] },
    '00020012': { vr: 'UI', Value: [IMPLEMENTATION_CLASS_UID] },
    '00020013': { vr: 'SH', Value: [IMPLEMENTATION_VERSION_NAME] },
  };
  const dict = new DicomDict(meta);
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return dict.write();
}

export function defaultUid(): string {
  return DicomMetaDictionary.uid();
}
