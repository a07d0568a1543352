// Results kept per slice, keyed by display set + imageId — or, for a reformatted MPR plane,
// + the plane's key (orientation, volume axis and index, see viewer/volumePlane.ts) — so
// scrolling back shows a stored result without recomputing it and the threshold can move
// over every stored map at once. Pure data: no OHIF, no Cornerstone (tested in Node).
import type { PlaneSource } from '../viewer/volumePlane';

export interface StageTimings {
  preprocessMs: number;
  inferenceMs: number;
  postprocessMs: number;
}

export interface StoredSliceResult {
  displaySetInstanceUID: string;
  /** The source image the map lies on, or the key of a reformatted plane (then `plane` is set). */
  imageId: string;
  /** A reformatted plane of a volume: the voxels its map covers (its labelmap spans many images). */
  plane?: PlaneSource;
  rows: number;
  columns: number;
  /** Raw map on the slice grid (rows · columns), as the model gives it. */
  map: Float32Array;
  score: number;
  mapMin: number;
  mapMax: number;
  /** Which model produced it (manifest id + version). */
  modelName: string;
  timings: StageTimings;
}

export function resultKey(displaySetInstanceUID: string, imageId: string): string {
  return `${displaySetInstanceUID}\n${imageId}`;
}

export function mapRange(map: ArrayLike<number>): { min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < map.length; i++) {
    const v = map[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return { min, max };
}

/**
 * Maps kept in memory at most (4 bytes per pixel per slice): 512 MiB holds the 160-slice
 * 192×152 demo series (19 MB) 27 times over, or 512 CT slices of 512×512.
 */
export const MAX_STORED_MAP_BYTES = 512 * 1024 * 1024;

export class ResultCache<T extends StoredSliceResult = StoredSliceResult> {
  private readonly entries = new Map<string, T>();

  get size(): number {
    return this.entries.size;
  }

  /** Bytes held by the stored maps. */
  get bytes(): number {
    let total = 0;
    for (const r of this.entries.values()) total += r.map.byteLength;
    return total;
  }

  /** Whether `count` more maps of rows×columns stay within `budget` bytes. */
  fits(rows: number, columns: number, count: number, budget = MAX_STORED_MAP_BYTES): boolean {
    return this.bytes + rows * columns * Float32Array.BYTES_PER_ELEMENT * count <= budget;
  }

  set(result: T): void {
    if (result.map.length !== result.rows * result.columns) {
      throw new RangeError(
        `a ${result.rows}×${result.columns} result needs ${result.rows * result.columns} map values, got ${result.map.length}`,
      );
    }
    this.entries.set(resultKey(result.displaySetInstanceUID, result.imageId), result);
  }

  get(displaySetInstanceUID: string, imageId: string): T | undefined {
    return this.entries.get(resultKey(displaySetInstanceUID, imageId));
  }

  has(displaySetInstanceUID: string, imageId: string): boolean {
    return this.entries.has(resultKey(displaySetInstanceUID, imageId));
  }

  /** Every stored result, optionally of one display set only. */
  list(displaySetInstanceUID?: string): T[] {
    const all = [...this.entries.values()];
    return displaySetInstanceUID === undefined
      ? all
      : all.filter((r) => r.displaySetInstanceUID === displaySetInstanceUID);
  }

  /** Forgets the results of one display set (its segmentation went away), or all. */
  clear(displaySetInstanceUID?: string): void {
    if (displaySetInstanceUID === undefined) {
      this.entries.clear();
      return;
    }
    for (const [key, r] of this.entries)
      if (r.displaySetInstanceUID === displaySetInstanceUID) this.entries.delete(key);
  }
}
