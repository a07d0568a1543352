// The continuous anomaly map as a DICOM Parametric Map: 32-bit float pixels (Float Pixel
// Data), one frame per source image referencing it, and a Real World Value Mapping that says
// what the numbers are (identity mapping, the map's label and unit), so the raw map — not only
// a thresholded mask — survives in the archive.
import {
  algorithmParameters,
  algorithmVersion,
  MANUFACTURER,
  CODES,
  decimalString,
  defaultUid,
  derivationImage,
  dicomDate,
  dicomTime,
  equipment,
  geometry,
  framesAlongNormal,
  patientStudyFrameOfReference,
  referencedSeries,
  writePart10,
  code,
  type CodedConcept,
  type DerivedObjectOptions,
  type DicomPart10File,
  type ModelIdentity,
} from './common';
import { DicomBuildError, type SourceSeries } from './source';

export const PARAMETRIC_MAP_STORAGE = '1.2.840.10008.5.1.4.1.1.30';
const IMAGE_TYPE = ['DERIVED', 'PRIMARY', 'VOLUME', 'NONE'];

export interface ParametricMapInput extends DerivedObjectOptions {
  source: SourceSeries;
  /** One raw map per source image (same order), rows × columns, row-major, finite. */
  frames: readonly ArrayLike<number>[];
  model: ModelIdentity;
  /** Short label of the quantity (LUTLabel, SH: ≤ 16 characters). */
  label?: string;
  /** What the values are (LUTExplanation). */
  explanation?: string;
  /** Unit of the values; defaults to UCUM arbitrary unit. */
  unit?: CodedConcept;
  /** Threshold the viewer used (recorded with the algorithm parameters). */
  threshold?: number;
}

/** The values copied into one little-endian float32 buffer (frame after frame). */
function floatPixelData(
  frames: readonly ArrayLike<number>[],
  pixelsPerFrame: number,
): { bytes: ArrayBuffer; min: number; max: number } {
  const buffer = new ArrayBuffer(frames.length * pixelsPerFrame * 4);
  const view = new DataView(buffer);
  let min = Infinity;
  let max = -Infinity;
  let offset = 0;
  frames.forEach((frame, index) => {
    for (let i = 0; i < pixelsPerFrame; i++, offset += 4) {
      const value = frame[i]!;
      if (!Number.isFinite(value)) throw new DicomBuildError(`map frame ${index} has a non-finite value at pixel ${i}`);
      view.setFloat32(offset, value, true);
      const stored = view.getFloat32(offset, true);
      if (stored < min) min = stored;
      if (stored > max) max = stored;
    }
  });
  return { bytes: buffer, min, max };
}

/**
 * Builds the Parametric Map; throws DicomBuildError when the frames do not match the source.
 * Long because it is one IOD's dataset written out module by module in PS3.3 order, so it
 * can be read against the standard top to bottom; the shared pieces live in common.ts.
 */
export function buildParametricMap(input: ParametricMapInput): DicomPart10File {
  const { model } = input;
  const { source, frames, rows, columns } = framesAlongNormal(input.source, input.frames, 'map');
  const newUid = input.newUid ?? defaultUid;
  const createdAt = input.createdAt ?? new Date();
  const sopInstanceUID = newUid();
  const seriesInstanceUID = newUid();
  const dimensionOrganizationUID = newUid();
  const { shared, perFrame, positionIndex } = geometry(source);
  const { bytes, min, max } = floatPixelData(frames, rows * columns);
  // Maps often span less than 1 (e.g. [0, 1]): LINEAR_EXACT allows any positive width.
  const windowWidth = max > min ? max - min : 1;
  const label = (input.label ?? 'CLUE anomaly').slice(0, 16);
  const unit = input.unit ?? CODES.arbitraryUnit;

  const realWorldValueMapping = {
    RealWorldValueMappingSequence: [
      {
        LUTExplanation: (input.explanation ?? `CLUE raw anomaly map, model ${model.id}`).slice(0, 64),
        LUTLabel: label,
        MeasurementUnitsCodeSequence: [unit],
        DoubleFloatRealWorldValueFirstValueMapped: min,
        DoubleFloatRealWorldValueLastValueMapped: max,
        RealWorldValueIntercept: 0,
        RealWorldValueSlope: 1,
      },
    ],
  };

  const dataset: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: PARAMETRIC_MAP_STORAGE,
    SOPInstanceUID: sopInstanceUID,
    InstanceCreationDate: dicomDate(createdAt),
    InstanceCreationTime: dicomTime(createdAt),
    TimezoneOffsetFromUTC: '+0000',
    ...patientStudyFrameOfReference(source),
    // General Series + Parametric Map Series: the modality of the data the map was computed on.
    Modality: source.modality,
    SeriesInstanceUID: seriesInstanceUID,
    SeriesNumber: String(input.seriesNumber ?? 9902),
    SeriesDescription: (input.seriesDescription ?? `CLUE anomaly map (${model.id})`).slice(0, 64),
    SeriesDate: dicomDate(createdAt),
    SeriesTime: dicomTime(createdAt),
    ...equipment(model),
    // General Image + Parametric Map Image + Floating Point Image Pixel
    InstanceNumber: '1',
    ContentDate: dicomDate(createdAt),
    ContentTime: dicomTime(createdAt),
    // Value 3: image flavour, value 4: derived pixel contrast (PS3.3 C.8.32.3.1).
    ImageType: IMAGE_TYPE,
    ContentLabel: 'CLUE_MAP',
    ContentDescription: 'CLUE raw anomaly map',
    ContentCreatorName: '',
    ContentQualification: 'RESEARCH',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: rows,
    Columns: columns,
    BitsAllocated: 32,
    PresentationLUTShape: 'IDENTITY',
    LossyImageCompression: '00',
    BurnedInAnnotation: 'NO',
    RecognizableVisualFeatures: 'NO',
    AcquisitionContextSequence: [],
    // Multi-frame Functional Groups + Dimensions
    NumberOfFrames: String(frames.length),
    SharedFunctionalGroupsSequence: [
      {
        ...shared,
        ...realWorldValueMapping,
        FrameVOILUTSequence: [
          {
            WindowCenter: decimalString((min + max) / 2),
            WindowWidth: decimalString(windowWidth),
            VOILUTFunction: 'LINEAR_EXACT',
          },
        ],
        ParametricMapFrameTypeSequence: [{ FrameType: IMAGE_TYPE }],
        PixelValueTransformationSequence: [{ RescaleIntercept: '0', RescaleSlope: '1', RescaleType: 'US' }],
        FrameAnatomySequence: [
          {
            AnatomicRegionSequence: [code('38266002', 'SCT', 'Entire body')],
            FrameLaterality: 'U',
          },
        ],
      },
    ],
    PerFrameFunctionalGroupsSequence: source.images.map((image, index) => ({
      FrameContentSequence: [{ DimensionIndexValues: [positionIndex[index]!] }],
      ...perFrame[index],
      ...derivationImage(image, code('110001', 'DCM', 'Image Processing')),
    })),
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUID }],
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionOrganizationUID,
        DimensionIndexPointer: 0x00200032, // ImagePositionPatient
        FunctionalGroupPointer: 0x00209113, // PlanePositionSequence
        DimensionDescriptionLabel: 'ImagePositionPatient',
      },
    ],
    ...referencedSeries(source),
    // The Parametric Map has no segment to carry the Algorithm Identification macro, as the
    // SEG does: CLUE and the model are named as the processing equipment instead.
    ContributingEquipmentSequence: [
      {
        PurposeOfReferenceCodeSequence: [code('109102', 'DCM', 'Processing Equipment')],
        Manufacturer: MANUFACTURER,
        ManufacturerModelName: `CLUE ${model.id}`.slice(0, 64),
        SoftwareVersions: algorithmVersion(model),
        ContributionDateTime: `${dicomDate(createdAt)}${dicomTime(createdAt)}+0000`,
        ContributionDescription: algorithmParameters(model, input.threshold),
      },
    ],
    FloatPixelData: [bytes],
  };

  return {
    data: writePart10(dataset),
    sopClassUID: PARAMETRIC_MAP_STORAGE,
    sopInstanceUID,
    seriesInstanceUID,
    studyInstanceUID: source.studyInstanceUID,
  };
}
