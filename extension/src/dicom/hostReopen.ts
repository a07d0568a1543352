// Which of our stored objects the OHIF 3.13 host can load back, decided from its own code (not
// from the standard: both objects below are valid DICOM either way; dciodvfy passes them).
//
// SEG — the host reads an instance with dcmjs' AsyncDicomReader (dcmjs 0.51 in the OHIF 3.13.2
// bundle). For a multi-frame 1-bit Pixel Data whose frame is not a whole number of bytes
// (rows·columns not a multiple of 8) `readUncompressedBitFrame` demands that the value length
// equals ceil(frames·rows·columns / 8) exactly; when that count is odd, DICOM's even-length
// padding makes the length one more and the reader throws ("The calculated length … does not
// match the actual length …"): the SEG stays on "Loading SEG…". When it does not throw, it
// splits the frames taking bits most-significant first, while DICOM packs them least-
// significant first: every frame after the first comes out with its pixels mirrored within
// each byte (checked in tests/unit/dicom/hostReopen.test.ts). With whole-byte frames an odd
// total is padded too, and `length % numberOfFrames !== 0` throws "Invalid frame length". One
// frame takes neither path. No conforming 1-bit encoding avoids either, so for those sizes and
// frame counts no BINARY SEG reopens correctly there.
//
// Parametric Map — @cornerstonejs/adapters' ParametricMap `insertPixelDataPlanar` views frame i
// as `new Float32Array(buffer, i * rows * columns, rows * columns)`: a BYTE offset of i·rows·
// columns, so frame 1 on throws ("start offset of Float32Array should be a multiple of 4")
// unless rows·columns is a multiple of 4. The pixel data is copied into a fresh buffer first,
// so no padding before it changes that offset.

export interface ReopenCheck {
  /** null when the host loads it back as stored; otherwise why not, in words for the panel. */
  seg: string | null;
  parametricMap: string | null;
}

/** Whether OHIF 3.13 can reopen our SEG / Parametric Map of `frames` frames of rows × columns. */
export function ohifReopenCheck(rows: number, columns: number, frames: number): ReopenCheck {
  const pixels = rows * columns;
  const segBytes = Math.ceil((frames * pixels) / 8);
  let seg: string | null = null;
  if (frames > 1 && segBytes % 2 === 1) {
    seg = `OHIF 3.13 cannot reopen this SEG: ${frames} frames of ${rows}×${columns} pack to ${segBytes} bytes, padded to ${segBytes + 1} as DICOM requires, and its reader accepts only the unpadded length (the file is valid; other readers such as highdicom load it)`;
  } else if (frames > 1 && pixels % 8 !== 0) {
    seg = `OHIF 3.13 would reopen this SEG with wrong voxels: ${rows}×${columns} = ${pixels} pixels is not a multiple of 8, and its reader unpacks frames after the first in the wrong bit order (the file is valid; other readers such as highdicom load it)`;
  }
  const parametricMap =
    frames > 1 && pixels % 4 !== 0
      ? `OHIF 3.13 cannot reopen this Parametric Map: ${rows}×${columns} = ${pixels} pixels is not a multiple of 4, and its loader addresses frame 2 on at a misaligned offset (the file is valid; other readers load it)`
      : null;
  return { seg, parametricMap };
}
