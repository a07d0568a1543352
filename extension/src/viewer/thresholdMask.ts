// Map + threshold -> labelmap voxels. Written against the two voxel-manager methods we use,
// so the same code runs on the host's labelmap image and on a plain buffer in unit tests.

/** The part of Cornerstone's VoxelManager this code needs. */
export interface VoxelWriter {
  getAtIndex(index: number): number | undefined;
  setAtIndex(index: number, value: number): unknown;
  /** The voxels as one array, when the manager has one (read-only use here: faster reads). */
  getScalarData?(): ArrayLike<number>;
}

/** The voxels to read from: the manager's own array when it has one of the right length. */
function readable(voxels: Pick<VoxelWriter, 'getAtIndex' | 'getScalarData'>, length: number): ArrayLike<number> | null {
  const data = voxels.getScalarData?.();
  return data && data.length >= length ? data : null;
}

/**
 * A voxel is in the mask when its map value is at or above the threshold. Maps are float32,
 * so the threshold is compared as float32 too: a map value of float32(0.9) is "at" a
 * slider value of 0.9 (the same rule as NumPy 2 comparing a float32 array with a Python
 * float).
 */
export function isAboveThreshold(value: number, threshold: number): boolean {
  return value >= Math.fround(threshold);
}

/**
 * Writes `segmentIndex` where map ≥ threshold and 0 elsewhere, touching only voxels whose
 * value changes (the host tracks modified voxels per write). Returns the number of voxels
 * set to `segmentIndex`.
 */
export function writeThresholdMask(
  map: ArrayLike<number>,
  threshold: number,
  voxels: VoxelWriter,
  segmentIndex: number,
): number {
  if (!Number.isFinite(threshold)) {
    throw new RangeError(`threshold ${threshold} is not a finite number`);
  }
  let count = 0;
  const t = Math.fround(threshold);
  const data = readable(voxels, map.length);
  for (let i = 0; i < map.length; i++) {
    const want = map[i]! >= t ? segmentIndex : 0;
    if (want !== 0) count++;
    // Writes go through setAtIndex (the host tracks modified voxels), reads may not.
    if ((data ? data[i] : voxels.getAtIndex(i) ?? 0) !== want) voxels.setAtIndex(i, want);
  }
  return count;
}

/** Counts voxels equal to `segmentIndex` among the first `length` voxels. */
export function countSegmentVoxels(voxels: Pick<VoxelWriter, 'getAtIndex' | 'getScalarData'>, length: number, segmentIndex: number): number {
  let count = 0;
  const data = readable(voxels, length);
  if (data) {
    for (let i = 0; i < length; i++) if (data[i] === segmentIndex) count++;
  } else {
    for (let i = 0; i < length; i++) if (voxels.getAtIndex(i) === segmentIndex) count++;
  }
  return count;
}
