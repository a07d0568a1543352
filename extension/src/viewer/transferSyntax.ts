// Which transfer syntaxes the host can decode, so that an image it never will is named as such
// instead of "not loaded yet; try again": waiting does not help, re-sending it does.
import type { HostLibraries } from './hostLibraries';

/**
 * The transfer syntaxes the prebuilt host's DICOM image loader decodes. Read from
 * `decodeImageFrame` of @cornerstonejs/dicom-image-loader as bundled in @ohif/app 3.13.2
 * (.cache/ohif-app-3.13.2/package/dist: app.bundle.*.js, "imageLoader/decodeImageFrame.js",
 * and its decode worker in 8097.bundle.*.js): its switch has a case for exactly these UIDs
 * and rejects every other one with "No decoder for transfer syntax …". Deflated explicit VR
 * little endian is in it (WADO-URI inflates the file with pako before the frame is cut;
 * WADO-RS frames arrive inflated) and so is explicit VR big endian (its decoder swaps bytes).
 * Update this list with the host.
 */
export const HOST_DECODABLE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([
  '1.2.840.10008.1.2',
  '1.2.840.10008.1.2.1',
  '1.2.840.10008.1.2.1.99',
  '1.2.840.10008.1.2.2',
  '1.2.840.10008.1.2.5',
  '1.2.840.10008.1.2.4.50',
  '1.2.840.10008.1.2.4.51',
  '1.2.840.10008.1.2.4.57',
  '1.2.840.10008.1.2.4.70',
  '1.2.840.10008.1.2.4.80',
  '1.2.840.10008.1.2.4.81',
  '1.2.840.10008.1.2.4.90',
  '1.2.840.10008.1.2.4.91',
  '3.2.840.10008.1.2.4.96', // the loader's pre-standard HTJ2K UID
  '1.2.840.10008.1.2.4.201',
  '1.2.840.10008.1.2.4.202',
  '1.2.840.10008.1.2.4.203',
]);

/** Names of transfer syntaxes (DICOM PS3.6 Annex A), for messages. */
const TRANSFER_SYNTAX_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.98': 'Encapsulated Uncompressed Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, First-Order Prediction (Process 14, SV1)',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Near-Lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 (Lossless Only)',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 Part 2 Multi-component (Lossless Only)',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 Part 2 Multi-component',
  '1.2.840.10008.1.2.4.94': 'JPIP Referenced',
  '1.2.840.10008.1.2.4.95': 'JPIP Referenced Deflate',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.101': 'MPEG2 Main Profile / High Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.104': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video',
  '1.2.840.10008.1.2.4.105': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video',
  '1.2.840.10008.1.2.4.106': 'MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265 Main Profile / Level 5.1',
  '1.2.840.10008.1.2.4.108': 'HEVC/H.265 Main 10 Profile / Level 5.1',
  '1.2.840.10008.1.2.4.110': 'JPEG XL Lossless',
  '1.2.840.10008.1.2.4.111': 'JPEG XL JPEG Recompression',
  '1.2.840.10008.1.2.4.112': 'JPEG XL',
  '3.2.840.10008.1.2.4.96': 'HTJ2K (pre-standard UID)',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 (Lossless Only)',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 with RPCL Options (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
};

export function transferSyntaxName(uid: string): string | undefined {
  return TRANSFER_SYNTAX_NAMES[uid];
}

/**
 * The transfer syntax an image is stored in, from the host's naturalized instance metadata:
 * TransferSyntaxUID when the host has the file meta (local files, DICOM JSON), else the
 * AvailableTransferSyntaxUID a DICOMweb server may report. undefined when neither is there.
 */
export function imageTransferSyntax(libraries: HostLibraries, imageId: string): string | undefined {
  const instance = (libraries.cornerstone.metaData.get('instance', imageId) ?? {}) as Record<string, unknown>;
  for (const value of [instance.TransferSyntaxUID, instance.AvailableTransferSyntaxUID]) {
    const first = Array.isArray(value) ? value[0] : value;
    // A UI value may be padded with a NUL byte to an even length.
    const uid = typeof first === 'string' ? first.replace(/\0+$/, '').trim() : '';
    if (uid !== '') return uid;
  }
  return undefined;
}

/** The image's transfer syntax when the host has no decoder for it; null when it has (or it is unknown). */
export function undecodableTransferSyntax(
  libraries: HostLibraries,
  imageId: string,
): { uid: string; name: string | undefined } | null {
  const uid = imageTransferSyntax(libraries, imageId);
  if (!uid || HOST_DECODABLE_TRANSFER_SYNTAXES.has(uid)) return null;
  return { uid, name: transferSyntaxName(uid) };
}
