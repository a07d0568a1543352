// Results kept per slice, keyed by display set + imageId — or, for a reformatted MPR plane,
// + the plane's key (orientation, volume axis and index, see viewer/volumePlane.ts) — so
// scrolling back shows a stored result without recomputing it and the threshold can move
// over every stored map at once. Pure data: no OHIF, no Cornerstone (tested in Node).
import type { DomainCheck } from '../domain/domain';
import type { RunTimings } from '../engine/pipeline';
import type { ModalityLutInfo } from '../viewer/modalityLut';
import type { PlaneSource } from '../viewer/volumePlane';

/**
 * One slice's result as kept: the raw map, and how it stands in the host's labelmap (the
 * threshold it was last written at and the voxels that gave). The panel's view of it is
 * derived (service/state.ts `summarize`), never copied.
 */
export interface StoredResult {
  displaySetInstanceUID: string;
  /** The source image the map lies on, or the key of a reformatted plane (then `plane` is set). */
  imageId: string;
  /** A reformatted plane of a volume: the voxels its map covers (its labelmap spans many images). */
  plane?: PlaneSource;
  rows: number;
  columns: number;
  /** Raw map on the slice grid (rows · columns), as the model gives it. */
  map: Float32Array;
  /** Image-level score in [0, 1]. */
  score: number;
  mapMin: number;
  mapMax: number;
  /** The model that produced the map (manifest id + version). */
  mapName: string;
  /** The model's stages in the worker. */
  timings: RunTimings;
  modalityLut: ModalityLutInfo;
  /** The slice against the model's validated domain (cautions when outside it). */
  domain: DomainCheck;
  /** Our segmentation (one per display set) and the labelmap image the map was written into. */
  segmentationId: string;
  viewportId: string;
  labelmapImageId: string;
  /** The threshold the labelmap holds this map at: how stored results combine in it. */
  threshold: number;
  /**
   * This result's voxels at the threshold (map ≥ threshold), counted back from the host's
   * labelmap; the labelmap may hold more on the slice where another stored result (a crossing
   * MPR plane) flags voxels.
   */
  voxelCount: number;
  /** Command start → labelmap and heatmap written (click-to-overlay), for the computing run; 0 otherwise. */
  durationMs: number;
  /**
   * Set for a blank slice of a series run (every pixel one value, e.g. padding at a volume's
   * ends): the model did not run; the map is all zeros (a constant image holds no anomaly) and
   * the score 0, so the series' labelmap, SEG and Parametric Map keep one frame per image.
   */
  blank?: true;
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

export class ResultCache {
  private readonly entries = new Map<string, StoredResult>();

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

  set(result: StoredResult): void {
    if (result.map.length !== result.rows * result.columns) {
      throw new RangeError(
        `a ${result.rows}×${result.columns} result needs ${result.rows * result.columns} map values, got ${result.map.length}`,
      );
    }
    this.entries.set(resultKey(result.displaySetInstanceUID, result.imageId), result);
  }

  get(displaySetInstanceUID: string, imageId: string): StoredResult | undefined {
    return this.entries.get(resultKey(displaySetInstanceUID, imageId));
  }

  has(displaySetInstanceUID: string, imageId: string): boolean {
    return this.entries.has(resultKey(displaySetInstanceUID, imageId));
  }

  /** Every stored result, optionally of one display set only. */
  list(displaySetInstanceUID?: string): StoredResult[] {
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
