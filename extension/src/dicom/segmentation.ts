// The binary anomaly labelmap as a DICOM Segmentation (BINARY, one segment "CLUE anomaly"),
// one frame per source image, each frame referencing its source image, with the algorithm
// identified (AUTOMATIC, CLUE, model version + sha256). Built as a dcmjs naturalized dataset
// and written as Part 10; dcmjs' own SEG helpers need Cornerstone-shaped inputs, ours do not.
import {
  algorithmIdentification,
  CODES,
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
  type CodedConcept,
  type DerivedObjectOptions,
  type DicomPart10File,
  type ModelIdentity,
} from './common';
import type { SourceSeries } from './source';

export const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';
export const DEFAULT_SEGMENT_LABEL = 'CLUE anomaly';

export interface SegmentationInput extends DerivedObjectOptions {
  source: SourceSeries;
  /** One mask per source image (same order), rows × columns, row-major; non-zero = anomaly. */
  frames: readonly ArrayLike<number>[];
  model: ModelIdentity;
  /** The threshold the mask was drawn at (recorded in AlgorithmParameters). */
  threshold: number;
  segmentLabel?: string;
  /** Defaults: Morphologically Abnormal Structure / Lesion (SNOMED CT). */
  category?: CodedConcept;
  type?: CodedConcept;
  /** Display colour as CIELab scaled to 0–65535 (DICOM's RecommendedDisplayCIELabValue). */
  cielab?: readonly [number, number, number];
}

/** Packs the masks bit by bit, frame after frame (BINARY SEG: 1 bit per pixel, LSB first). */
export function packBinaryFrames(frames: readonly ArrayLike<number>[], pixelsPerFrame: number): Uint8Array {
  const totalBits = frames.length * pixelsPerFrame;
  // Pixel Data is padded to an even length.
  const bytes = new Uint8Array(Math.ceil(Math.ceil(totalBits / 8) / 2) * 2);
  let bit = 0;
  for (const frame of frames) {
    for (let i = 0; i < pixelsPerFrame; i++, bit++) {
      if (frame[i]) bytes[bit >>> 3]! |= 1 << (bit & 7);
    }
  }
  return bytes;
}

/**
 * Builds the SEG; throws DicomBuildError when the frames do not match the source.
 * Long because it is one IOD's dataset written out module by module in PS3.3 order, so it
 * can be read against the standard top to bottom; the shared pieces live in common.ts.
 */
export function buildSegmentation(input: SegmentationInput): DicomPart10File {
  const { model } = input;
  const { source, frames, rows, columns } = framesAlongNormal(input.source, input.frames, 'mask');
  const newUid = input.newUid ?? defaultUid;
  const createdAt = input.createdAt ?? new Date();
  const sopInstanceUID = newUid();
  const seriesInstanceUID = newUid();
  const { shared, perFrame, positionIndex } = geometry(source);
  const dimensionOrganizationUID = newUid();

  const dataset: Record<string, unknown> = {
    SpecificCharacterSet: 'ISO_IR 192',
    SOPClassUID: SEGMENTATION_STORAGE,
    SOPInstanceUID: sopInstanceUID,
    InstanceCreationDate: dicomDate(createdAt),
    InstanceCreationTime: dicomTime(createdAt),
    TimezoneOffsetFromUTC: '+0000',
    ...patientStudyFrameOfReference(source),
    // General Series + Segmentation Series
    Modality: 'SEG',
    SeriesInstanceUID: seriesInstanceUID,
    SeriesNumber: String(input.seriesNumber ?? 9901),
    SeriesDescription: (input.seriesDescription ?? `CLUE anomaly (${model.id})`).slice(0, 64),
    SeriesDate: dicomDate(createdAt),
    SeriesTime: dicomTime(createdAt),
    // General / Enhanced General Equipment
    ...equipment(model),
    // General Image + Segmentation Image
    InstanceNumber: '1',
    ContentDate: dicomDate(createdAt),
    ContentTime: dicomTime(createdAt),
    ImageType: ['DERIVED', 'PRIMARY'],
    ContentLabel: 'CLUE_ANOMALY',
    ContentDescription: `CLUE anomaly mask at threshold ${input.threshold}`.slice(0, 64),
    ContentCreatorName: '',
    SegmentationType: 'BINARY',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: rows,
    Columns: columns,
    BitsAllocated: 1,
    BitsStored: 1,
    HighBit: 0,
    PixelRepresentation: 0,
    LossyImageCompression: '00',
    SegmentSequence: [
      {
        SegmentNumber: 1,
        SegmentLabel: (input.segmentLabel ?? DEFAULT_SEGMENT_LABEL).slice(0, 64),
        SegmentAlgorithmType: 'AUTOMATIC',
        SegmentAlgorithmName: 'CLUE',
        SegmentationAlgorithmIdentificationSequence: [algorithmIdentification(model, input.threshold)],
        SegmentedPropertyCategoryCodeSequence: [input.category ?? CODES.morphologicallyAbnormalStructure],
        SegmentedPropertyTypeCodeSequence: [input.type ?? CODES.lesion],
        RecommendedDisplayCIELabValue: [...(input.cielab ?? [54706, 53251, 46226])], // orange-red
      },
    ],
    // Multi-frame Functional Groups + Dimensions
    NumberOfFrames: String(frames.length),
    SharedFunctionalGroupsSequence: [shared],
    PerFrameFunctionalGroupsSequence: source.images.map((image, index) => ({
      FrameContentSequence: [{ DimensionIndexValues: [1, positionIndex[index]!] }],
      ...perFrame[index],
      ...derivationImage(image, CODES.segmentation),
      SegmentIdentificationSequence: [{ ReferencedSegmentNumber: 1 }],
    })),
    DimensionOrganizationSequence: [{ DimensionOrganizationUID: dimensionOrganizationUID }],
    DimensionIndexSequence: [
      {
        DimensionOrganizationUID: dimensionOrganizationUID,
        DimensionIndexPointer: 0x0062000b, // ReferencedSegmentNumber
        FunctionalGroupPointer: 0x0062000a, // SegmentIdentificationSequence
        DimensionDescriptionLabel: 'ReferencedSegmentNumber',
      },
      {
        DimensionOrganizationUID: dimensionOrganizationUID,
        DimensionIndexPointer: 0x00200032, // ImagePositionPatient
        FunctionalGroupPointer: 0x00209113, // PlanePositionSequence
        DimensionDescriptionLabel: 'ImagePositionPatient',
      },
    ],
    // Common Instance Reference
    ...referencedSeries(source),
    PixelData: [packBinaryFrames(frames, rows * columns).buffer],
    _vrMap: { PixelData: 'OB' },
  };

  return {
    data: writePart10(dataset),
    sopClassUID: SEGMENTATION_STORAGE,
    sopInstanceUID,
    seriesInstanceUID,
    studyInstanceUID: source.studyInstanceUID,
  };
}
