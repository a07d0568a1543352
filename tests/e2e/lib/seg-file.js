// Reading the demo's ground-truth DICOM SEG files in Node (dcmjs), independently of the
// viewer's SEG loader, so the tests can compare what the host shows with the file.
import { readFile } from 'node:fs/promises';
import dcmjs from 'dcmjs';

async function readDataset(file) {
  const buffer = await readFile(file);
  const { dict } = dcmjs.data.DicomMessage.readFile(
    buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength),
  );
  return dict;
}

/** Set bits in a BINARY SEG file's pixel data (all frames, all segments). */
export async function segSetBits(file) {
  const dict = await readDataset(file);
  const rows = dict['00280010'].Value[0];
  const columns = dict['00280011'].Value[0];
  const frames = Number(dict['00280008'].Value[0]);
  const bits = new Uint8Array(dict['7FE00010'].Value[0]);
  const total = rows * columns * frames;
  let count = 0;
  for (let i = 0; i < total; i++) if (bits[i >> 3] & (1 << (i & 7))) count++;
  return count;
}

/**
 * One segment's mask on one source image, from a BINARY SEG file: a Uint8Array of
 * rows × columns (row-major, the source image's grid; all zero when the SEG has no frame
 * for that image and segment).
 */
export async function segMaskForImage(file, sopInstanceUID, segmentNumber) {
  const dict = await readDataset(file);
  const seg = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict);
  const rows = Number(seg.Rows);
  const columns = Number(seg.Columns);
  const bits = new Uint8Array(dict['7FE00010'].Value[0]);
  const mask = new Uint8Array(rows * columns);
  const frames = [seg.PerFrameFunctionalGroupsSequence ?? []].flat();
  frames.forEach((frame, index) => {
    const segment = [frame.SegmentIdentificationSequence].flat()[0]?.ReferencedSegmentNumber;
    const derivation = [frame.DerivationImageSequence].flat()[0];
    const source = [derivation?.SourceImageSequence].flat()[0]?.ReferencedSOPInstanceUID;
    if (Number(segment) !== segmentNumber || source !== sopInstanceUID) return;
    const offset = index * rows * columns;
    for (let i = 0; i < rows * columns; i++) {
      const bit = offset + i;
      if (bits[bit >> 3] & (1 << (bit & 7))) mask[i] = 1;
    }
  });
  return { rows, columns, mask };
}

/** The SOP Instance UID of one DICOM file. */
export async function sopInstanceUidOf(file) {
  const dict = await readDataset(file);
  return dict['00080018'].Value[0];
}
