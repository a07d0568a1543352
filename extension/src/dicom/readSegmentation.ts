// Reads a ground-truth DICOM SEG ourselves (dcmjs), for a comparison the host's own SEG loader
// cannot serve: OHIF 3.13 never finishes loading a multi-frame 1-bit SEG whose frames are not
// whole bytes (see hostReopen.ts), and a SEG need not be opened in the viewer to be compared
// with. Frames are placed by their Derivation Image references (SOP Instance UID [+ frame]),
// as PS3.3 C.8.20.2 requires of a SEG derived from images.
import dcmjs from 'dcmjs';
import { ClueInputError } from '../errors';

const { DicomMessage, DicomMetaDictionary } = dcmjs.data;

const SEGMENTATION_STORAGE = '1.2.840.10008.5.1.4.1.1.66.4';
/** Transfer syntaxes whose Pixel Data is the raw frames back to back (what we unpack). */
const NATIVE_SYNTAXES = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);

export class SegmentationReadError extends ClueInputError {
  override name = 'SegmentationReadError';
}

export interface SegmentationFrameRef {
  /** The source image the frame lies on. */
  sopInstanceUID: string;
  /** Its frame, for a multi-frame source; undefined for a single-frame image. */
  frameNumber?: number;
  segmentNumber: number;
}

export interface ReadSegmentation {
  rows: number;
  columns: number;
  segments: Array<{ segmentIndex: number; label: string }>;
  frames: SegmentationFrameRef[];
  /** Frame `index` as 0/1 (a FRACTIONAL frame's values at or above half their maximum count as 1). */
  frame(index: number): Uint8Array;
}

type Dataset = Record<string, unknown>;

const first = (value: unknown): Dataset | undefined => (Array.isArray(value) ? value[0] : value) as Dataset | undefined;

function refusal(detail: string): SegmentationReadError {
  return new SegmentationReadError(`The ground-truth SEG cannot be read: ${detail}.`);
}

/** Parses a Part-10 SEG; throws SegmentationReadError naming what is wrong or unsupported. */
export function readSegmentation(buffer: ArrayBuffer): ReadSegmentation {
  let dict;
  try {
    dict = DicomMessage.readFile(buffer);
  } catch (error) {
    throw refusal(`it is not a readable DICOM file (${(error as Error).message})`);
  }
  const meta = DicomMetaDictionary.naturalizeDataset(dict.meta);
  const ds = DicomMetaDictionary.naturalizeDataset(dict.dict);
  if (ds.SOPClassUID !== SEGMENTATION_STORAGE) throw refusal(`its SOP class is ${String(ds.SOPClassUID)}, not SEG`);
  const syntax = String(meta.TransferSyntaxUID ?? '');
  if (!NATIVE_SYNTAXES.has(syntax)) throw refusal(`its transfer syntax ${syntax} is compressed (only native is read)`);
  const rows = Number(ds.Rows);
  const columns = Number(ds.Columns);
  const frameCount = Number(ds.NumberOfFrames ?? 1);
  const fractional = ds.SegmentationType === 'FRACTIONAL';
  const bits = Number(ds.BitsAllocated);
  if (!(rows > 0 && columns > 0 && frameCount > 0)) throw refusal('it has no frame size');
  if (bits !== (fractional ? 8 : 1)) throw refusal(`a ${String(ds.SegmentationType)} SEG with ${bits} bits allocated`);
  const frames = frameReferences(ds, frameCount);
  const pixelData = pixelBytes(ds.PixelData);
  const pixels = rows * columns;
  const needed = fractional ? frameCount * pixels : Math.ceil((frameCount * pixels) / 8);
  if (pixelData.length < needed) throw refusal(`its Pixel Data holds ${pixelData.length} bytes, ${needed} needed`);
  const maximum = Number(ds.MaximumFractionalValue ?? 255);
  return {
    rows,
    columns,
    segments: segmentsOf(ds),
    frames,
    frame(index: number): Uint8Array {
      const mask = new Uint8Array(pixels);
      if (fractional) {
        const start = index * pixels;
        for (let i = 0; i < pixels; i++) mask[i] = pixelData[start + i]! * 2 >= maximum ? 1 : 0;
        return mask;
      }
      // 1-bit frames follow each other without padding, least significant bit first (PS3.5 8.1.1).
      const startBit = index * pixels;
      for (let i = 0; i < pixels; i++) {
        const bit = startBit + i;
        mask[i] = (pixelData[bit >>> 3]! >>> (bit & 7)) & 1;
      }
      return mask;
    },
  };
}

function frameReferences(ds: Dataset, frameCount: number): SegmentationFrameRef[] {
  const perFrame = (ds.PerFrameFunctionalGroupsSequence ?? []) as Dataset[];
  if (perFrame.length !== frameCount) throw refusal(`${perFrame.length} per-frame groups for ${frameCount} frames`);
  // A functional group the frames share sits in the shared groups (highdicom puts a SEG's
  // only segment there, for one): a per-frame group wins over it.
  const shared = first(ds.SharedFunctionalGroupsSequence) ?? {};
  return perFrame.map((own, index) => {
    const group = { ...shared, ...own };
    const source = first(first(first(group.DerivationImageSequence)?.SourceImageSequence));
    const sopInstanceUID = source?.ReferencedSOPInstanceUID;
    if (typeof sopInstanceUID !== 'string') {
      throw refusal(`frame ${index + 1} does not name its source image (no Derivation Image Sequence)`);
    }
    const segmentNumber = Number(first(group.SegmentIdentificationSequence)?.ReferencedSegmentNumber);
    if (!Number.isInteger(segmentNumber)) throw refusal(`frame ${index + 1} names no segment`);
    const frameNumber = source?.ReferencedFrameNumber;
    return {
      sopInstanceUID,
      ...(frameNumber !== undefined ? { frameNumber: Number(first(frameNumber) ?? frameNumber) } : {}),
      segmentNumber,
    };
  });
}

function segmentsOf(ds: Dataset): Array<{ segmentIndex: number; label: string }> {
  return ((ds.SegmentSequence ?? []) as Dataset[])
    .map((segment) => ({
      segmentIndex: Number(segment.SegmentNumber),
      label: String(segment.SegmentLabel ?? `Segment ${String(segment.SegmentNumber)}`),
    }))
    .filter((s) => Number.isInteger(s.segmentIndex) && s.segmentIndex > 0)
    .sort((a, b) => a.segmentIndex - b.segmentIndex);
}

function pixelBytes(value: unknown): Uint8Array {
  const data = Array.isArray(value) ? value[0] : value;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw refusal('it has no Pixel Data');
}

/**
 * The ground-truth mask of each image in `images` (by SOP Instance UID [+ frame]): pixels of
 * segment `segmentIndex`, or of any segment when it is null. An image no frame references is
 * empty (a SEG stores only the slices it covers).
 */
export function segmentationMasks(
  seg: ReadSegmentation,
  images: readonly { sopInstanceUID: string; frameNumber?: number; pixelCount: number }[],
  segmentIndex: number | null,
): { masks: Uint8Array[]; coveredSlices: number } {
  // A frame reference without ReferencedFrameNumber covers every frame of its source (PS3.3
  // C.7.6.16.2.6): kept under the SOP alone and matched to any frame of it.
  const key = (sop: string, frame: number | '*') => `${sop}\n${frame}`;
  const framesOf = new Map<string, number[]>();
  seg.frames.forEach((ref, index) => {
    if (segmentIndex !== null && ref.segmentNumber !== segmentIndex) return;
    const k = key(ref.sopInstanceUID, ref.frameNumber ?? '*');
    if (!framesOf.has(k)) framesOf.set(k, []);
    framesOf.get(k)!.push(index);
  });
  let coveredSlices = 0;
  const masks = images.map((image) => {
    const mask = new Uint8Array(image.pixelCount);
    const frames = [
      ...(framesOf.get(key(image.sopInstanceUID, image.frameNumber ?? 1)) ?? []),
      ...(framesOf.get(key(image.sopInstanceUID, '*')) ?? []),
    ];
    if (frames.length === 0) return mask;
    if (seg.rows * seg.columns !== image.pixelCount) {
      throw new SegmentationReadError(
        `The ground-truth SEG's frames are ${seg.rows}×${seg.columns} on an image whose map has ${image.pixelCount} pixels: it is not on the image's grid.`,
      );
    }
    coveredSlices++;
    for (const index of frames) {
      const frame = seg.frame(index);
      for (let i = 0; i < mask.length; i++) if (frame[i]) mask[i] = 1;
    }
    return mask;
  });
  return { masks, coveredSlices };
}
