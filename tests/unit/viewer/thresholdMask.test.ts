import { describe, expect, it } from 'vitest';
import {
  countSegmentVoxels,
  isAboveThreshold,
  writeThresholdMask,
  type VoxelWriter,
} from '../../../extension/src/viewer/thresholdMask';

/** A plain buffer with the voxel-manager methods, recording which indices were written. */
function bufferVoxels(initial: number[]): VoxelWriter & { data: Uint8Array; writes: number[] } {
  const data = Uint8Array.from(initial);
  const writes: number[] = [];
  return {
    data,
    writes,
    getAtIndex: (i) => data[i],
    setAtIndex: (i, v) => {
      writes.push(i);
      data[i] = v;
    },
  };
}

describe('writeThresholdMask', () => {
  const map = Float32Array.from([0, 0.2, 0.5, 0.7, 1]);

  it('sets the segment index at and above the threshold and clears below', () => {
    const voxels = bufferVoxels([1, 1, 0, 0, 0]);
    const count = writeThresholdMask(map, 0.5, voxels, 1);
    expect(count).toBe(3);
    expect(Array.from(voxels.data)).toEqual([0, 0, 1, 1, 1]);
  });

  it('writes only voxels whose value changes', () => {
    const voxels = bufferVoxels([0, 0, 1, 0, 1]);
    writeThresholdMask(map, 0.5, voxels, 1);
    expect(voxels.writes).toEqual([3]);
  });

  it('gives voxel counts that never increase as the threshold rises', () => {
    const ramp = Float32Array.from({ length: 101 }, (_, i) => i / 100);
    const voxels = bufferVoxels(new Array(101).fill(0));
    const counts = [0, 0.1, 0.25, 0.5, 0.9, 1].map((t) => writeThresholdMask(ramp, t, voxels, 1));
    expect(counts).toEqual([101, 91, 76, 51, 11, 1]);
    expect(countSegmentVoxels(voxels, 101, 1)).toBe(1);
  });

  it('uses the given segment index', () => {
    const voxels = bufferVoxels([0, 0, 0, 0, 0]);
    writeThresholdMask(map, 0.6, voxels, 3);
    expect(Array.from(voxels.data)).toEqual([0, 0, 0, 3, 3]);
    expect(countSegmentVoxels(voxels, 5, 3)).toBe(2);
    expect(countSegmentVoxels(voxels, 5, 1)).toBe(0);
  });

  it('reads through the manager’s array when it has one, still writing through setAtIndex', () => {
    const withArray = bufferVoxels([0, 0, 1, 0, 1]);
    const voxels: VoxelWriter = {
      ...withArray,
      getAtIndex: () => {
        throw new Error('read per index');
      },
      getScalarData: () => withArray.data,
    };
    expect(writeThresholdMask(map, 0.5, voxels, 1)).toBe(3);
    expect(withArray.writes).toEqual([3]);
    expect(countSegmentVoxels(voxels, 5, 1)).toBe(3);
  });

  it('keeps the voxels another stored result holds, and counts only its own', () => {
    // Voxels 0 and 3 are held elsewhere (a crossing plane): 0 stays set although the map is
    // below the threshold there, 3 is set by the map itself.
    const voxels = bufferVoxels([1, 1, 0, 0, 0]);
    const held = new Set([0, 3]);
    expect(writeThresholdMask(map, 0.5, voxels, 1, (i) => held.has(i))).toBe(3);
    expect(Array.from(voxels.data)).toEqual([1, 0, 1, 1, 1]);
    expect(voxels.writes).toEqual([1, 2, 3, 4]);
    // Raised above every map value: only the held voxels remain, the result's own count is 0.
    expect(writeThresholdMask(map, 1.5, voxels, 1, (i) => held.has(i))).toBe(0);
    expect(Array.from(voxels.data)).toEqual([1, 0, 0, 1, 0]);
  });

  it('rejects a non-finite threshold', () => {
    expect(() => writeThresholdMask(map, Number.NaN, bufferVoxels([0, 0, 0, 0, 0]), 1)).toThrow(/threshold NaN/);
  });
});

describe('isAboveThreshold', () => {
  it('compares in float32, so a float32 map value equal to the threshold counts', () => {
    const stored = Float32Array.from([0.9])[0]!; // 0.899999976…
    expect(stored < 0.9).toBe(true);
    expect(isAboveThreshold(stored, 0.9)).toBe(true);
    expect(isAboveThreshold(Math.fround(0.89), 0.9)).toBe(false);
  });
});
