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
 * float). The one place this rule lives: every mask (image, MPR plane, SEG export) uses it.
 */
export function aboveThreshold(threshold: number): (value: number) => boolean {
  if (!Number.isFinite(threshold)) {
    throw new RangeError(`threshold ${threshold} is not a finite number`);
  }
  const t = Math.fround(threshold);
  return (value) => value >= t;
}

export function isAboveThreshold(value: number, threshold: number): boolean {
  return aboveThreshold(threshold)(value);
}

/**
 * One labelmap image being written voxel by voxel: reads through the manager's own array
 * when it has one (fast), writes through setAtIndex and only where the value changes (the
 * host tracks modified voxels per write).
 */
export class MaskVoxelWriter {
  private readonly data: ArrayLike<number> | null;
  /** Whether any voxel changed. */
  changed = false;

  constructor(
    private readonly voxels: VoxelWriter,
    length: number,
  ) {
    this.data = readable(voxels, length);
  }

  get(index: number): number {
    return (this.data ? this.data[index] : this.voxels.getAtIndex(index)) ?? 0;
  }

  set(index: number, value: number): void {
    if (this.get(index) !== value) {
      this.voxels.setAtIndex(index, value);
      this.changed = true;
    }
  }

  /**
   * Voxel `index` for a map value: `segmentIndex` where the value reaches the threshold, or
   * where `held` (another stored result flags this voxel: results compose, none erases
   * another's voxels), else 0. Returns whether the map's own value reached the threshold
   * and the voxel reads back as `segmentIndex` — what the result's voxel count counts.
   */
  writeMasked(index: number, inMask: boolean, held: boolean, segmentIndex: number): boolean {
    this.set(index, inMask || held ? segmentIndex : 0);
    return inMask && this.get(index) === segmentIndex;
  }
}

/**
 * Writes `segmentIndex` where map ≥ threshold — and where `heldElsewhere(i)` says another
 * stored result flags the voxel — and 0 elsewhere, touching only voxels whose value
 * changes. Returns the map's own voxels at the threshold, counted back from `voxels`.
 */
export function writeThresholdMask(
  map: ArrayLike<number>,
  threshold: number,
  voxels: VoxelWriter,
  segmentIndex: number,
  heldElsewhere?: (index: number) => boolean,
): number {
  const inMask = aboveThreshold(threshold);
  const writer = new MaskVoxelWriter(voxels, map.length);
  let count = 0;
  for (let i = 0; i < map.length; i++) {
    const own = inMask(map[i]!);
    if (writer.writeMasked(i, own, !own && heldElsewhere !== undefined && heldElsewhere(i), segmentIndex)) count++;
  }
  return count;
}

/** Counts voxels equal to `segmentIndex` among the first `length` voxels. */
export function countSegmentVoxels(
  voxels: Pick<VoxelWriter, 'getAtIndex' | 'getScalarData'>,
  length: number,
  segmentIndex: number,
): number {
  let count = 0;
  const data = readable(voxels, length);
  if (data) {
    for (let i = 0; i < length; i++) if (data[i] === segmentIndex) count++;
  } else {
    for (let i = 0; i < length; i++) if (voxels.getAtIndex(i) === segmentIndex) count++;
  }
  return count;
}
