// The DICOM modality LUT for the linear case: real value = stored · RescaleSlope +
// RescaleIntercept. Pure code, so it is unit-tested; readSlice.ts decides which slope and
// intercept apply (the host's loader may already have applied them to its cached pixels).

export interface LinearModalityLut {
  slope: number;
  intercept: number;
}

export interface ModalityLutInfo {
  slope: number;
  intercept: number;
  /** True when the host's image loader had already applied it to the cached pixels. */
  appliedByLoader: boolean;
  /**
   * Set on a reformatted MPR plane whose source images have different LUTs: each image's own
   * was applied to its pixels, and slope/intercept above are the first image's.
   */
  perImage?: boolean;
}

export const IDENTITY_LUT: Readonly<LinearModalityLut> = Object.freeze({ slope: 1, intercept: 0 });

/**
 * Slope/intercept from DICOM attributes: absent values mean identity (the attributes are
 * optional for MR); a zero or non-finite slope is corrupt data, reported as such.
 */
export function linearLutFromAttributes(
  rescaleSlope: number | string | undefined | null,
  rescaleIntercept: number | string | undefined | null,
): LinearModalityLut {
  const slope = rescaleSlope === undefined || rescaleSlope === null || rescaleSlope === '' ? 1 : Number(rescaleSlope);
  const intercept =
    rescaleIntercept === undefined || rescaleIntercept === null || rescaleIntercept === ''
      ? 0
      : Number(rescaleIntercept);
  if (!Number.isFinite(slope) || slope === 0) {
    throw new RangeError(`RescaleSlope ${String(rescaleSlope)} is not a usable number`);
  }
  if (!Number.isFinite(intercept)) {
    throw new RangeError(`RescaleIntercept ${String(rescaleIntercept)} is not a usable number`);
  }
  return { slope, intercept };
}

/** Real-world values of a slice as float32 (a copy: the host's cache is never modified). */
export function applyModalityLut(stored: ArrayLike<number>, lut: LinearModalityLut): Float32Array {
  const out = new Float32Array(stored.length);
  const { slope, intercept } = lut;
  if (slope === 1 && intercept === 0) {
    for (let i = 0; i < stored.length; i++) out[i] = stored[i]!;
    return out;
  }
  for (let i = 0; i < stored.length; i++) out[i] = stored[i]! * slope + intercept;
  return out;
}
