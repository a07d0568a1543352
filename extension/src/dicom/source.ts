// What a derived object (SEG, Parametric Map) needs to know about the series it was computed
// on. The viewer fills it from the host's instance metadata (sourceSeriesFromInstances); this
// folder never touches OHIF.
import { ClueInputError } from '../errors';

export class DicomBuildError extends ClueInputError {
  override name = 'DicomBuildError';
}

export interface SourceImage {
  sopClassUID: string;
  sopInstanceUID: string;
  rows: number;
  columns: number;
  /** Position of the first transmitted pixel's centre, mm. */
  imagePositionPatient: readonly [number, number, number];
  /** Row direction cosines then column direction cosines. */
  imageOrientationPatient: readonly [number, number, number, number, number, number];
  /** [spacing between rows, spacing between columns], mm. */
  pixelSpacing: readonly [number, number];
  sliceThickness?: number | null;
}

/** Patient and study attributes copied as-is into the derived object (DICOM keywords). */
export interface PatientStudyAttributes {
  PatientName?: string;
  PatientID?: string;
  PatientBirthDate?: string;
  PatientSex?: string;
  StudyDate?: string;
  StudyTime?: string;
  StudyID?: string;
  AccessionNumber?: string;
  ReferringPhysicianName?: string;
  StudyDescription?: string;
}

export interface SourceSeries {
  studyInstanceUID: string;
  seriesInstanceUID: string;
  frameOfReferenceUID: string;
  modality: string;
  patientStudy: PatientStudyAttributes;
  /** The images the frames refer to, in the order the frames are given. */
  images: readonly SourceImage[];
}

const PATIENT_STUDY_KEYWORDS: readonly (keyof PatientStudyAttributes)[] = [
  'PatientName',
  'PatientID',
  'PatientBirthDate',
  'PatientSex',
  'StudyDate',
  'StudyTime',
  'StudyID',
  'AccessionNumber',
  'ReferringPhysicianName',
  'StudyDescription',
];

/** A person name as hosts store it: a string, or DICOM JSON's {Alphabetic} (maybe in an array). */
function personNameText(value: unknown): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (typeof first === 'string') return first;
  if (first && typeof first === 'object' && typeof (first as { Alphabetic?: unknown }).Alphabetic === 'string') {
    return (first as { Alphabetic: string }).Alphabetic;
  }
  return undefined;
}

function text(value: unknown): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (typeof first === 'string') return first;
  if (typeof first === 'number') return String(first);
  return undefined;
}

function numbers(value: unknown, count: number, what: string, sop: string): number[] {
  const list = (Array.isArray(value) ? value : typeof value === 'string' ? value.split('\\') : [value]).map(Number);
  if (list.length !== count || list.some((v) => !Number.isFinite(v))) {
    throw new DicomBuildError(`instance ${sop}: ${what} must be ${count} numbers, got ${JSON.stringify(value)}`);
  }
  return list;
}

/**
 * A SourceSeries from the source instances' metadata in naturalized form (keys are DICOM
 * keywords, as OHIF's DicomMetadataStore and dcmjs give them), in frame order. Throws
 * DicomBuildError naming the instance and attribute when something needed is missing.
 */
export function sourceSeriesFromInstances(instances: readonly Record<string, unknown>[]): SourceSeries {
  if (instances.length === 0) throw new DicomBuildError('no source instances given');
  const first = instances[0]!;
  const required = (instance: Record<string, unknown>, keyword: string): string => {
    const value = text(instance[keyword]);
    if (!value) throw new DicomBuildError(`instance ${text(instance.SOPInstanceUID) ?? '?'}: no ${keyword}`);
    return value;
  };
  const images: SourceImage[] = instances.map((instance) => {
    const sop = required(instance, 'SOPInstanceUID');
    const thickness = Number(text(instance.SliceThickness));
    const [x, y, z] = numbers(instance.ImagePositionPatient, 3, 'ImagePositionPatient', sop);
    const orientation = numbers(instance.ImageOrientationPatient, 6, 'ImageOrientationPatient', sop);
    const [rowSpacing, columnSpacing] = numbers(instance.PixelSpacing, 2, 'PixelSpacing', sop);
    return {
      sopClassUID: required(instance, 'SOPClassUID'),
      sopInstanceUID: sop,
      rows: Number(required(instance, 'Rows')),
      columns: Number(required(instance, 'Columns')),
      imagePositionPatient: [x!, y!, z!],
      imageOrientationPatient: orientation as unknown as SourceImage['imageOrientationPatient'],
      pixelSpacing: [rowSpacing!, columnSpacing!],
      sliceThickness: Number.isFinite(thickness) && thickness > 0 ? thickness : null,
    };
  });
  const patientStudy: PatientStudyAttributes = {};
  for (const keyword of PATIENT_STUDY_KEYWORDS) {
    const value = keyword.endsWith('Name') ? personNameText(first[keyword]) : text(first[keyword]);
    if (value !== undefined) patientStudy[keyword] = value;
  }
  const series: SourceSeries = {
    studyInstanceUID: required(first, 'StudyInstanceUID'),
    seriesInstanceUID: required(first, 'SeriesInstanceUID'),
    frameOfReferenceUID: required(first, 'FrameOfReferenceUID'),
    modality: required(first, 'Modality'),
    patientStudy,
    images,
  };
  for (const instance of instances) {
    if (text(instance.SeriesInstanceUID) !== series.seriesInstanceUID) {
      throw new DicomBuildError(
        `instance ${text(instance.SOPInstanceUID)}: belongs to another series than ${series.seriesInstanceUID}`,
      );
    }
  }
  return series;
}

/** Checks the source's geometry is one we can describe; returns rows and columns. */
export function checkSource(source: SourceSeries): { rows: number; columns: number } {
  if (source.images.length === 0) throw new DicomBuildError('the source series has no images');
  const { rows, columns } = source.images[0]!;
  if (!(rows > 0 && columns > 0)) throw new DicomBuildError(`source image size ${rows}×${columns} is not valid`);
  for (const image of source.images) {
    if (image.rows !== rows || image.columns !== columns) {
      throw new DicomBuildError(
        `source images differ in size (${image.sopInstanceUID} is ${image.rows}×${image.columns}, the first ${rows}×${columns})`,
      );
    }
  }
  return { rows, columns };
}
