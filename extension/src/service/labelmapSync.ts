// Keeps the host's labelmap in step with the stored maps and the threshold. Our labelmap is
// the union of the stored results at the thresholds they were last written at, in whatever
// order they were written: an image result and a crossing MPR plane compose, and no result's
// voxels (nor its voxel count) are changed by another's write.
import type { ResultCache, StoredResult } from '../results/resultCache';
import type { ClueHost, LabelmapTarget, LabelmapWrite } from '../viewer/host';

/** Runs `task` when the browser is idle (tests pass their own). */
export type IdleScheduler = (task: () => void) => void;

export const defaultScheduler: IdleScheduler = (task) => {
  if (typeof requestIdleCallback === 'function') requestIdleCallback(() => task(), { timeout: 500 });
  else queueMicrotask(task);
};

/** Main-thread time one idle chunk of off-screen re-thresholding may take. */
const CATCH_UP_BUDGET_MS = 8;

export class LabelmapSync {
  private catchUpScheduled = false;
  /** Segmentations written off screen by the catch-up, for one notification at its end. */
  private catchUpTouched = new Set<string>();

  constructor(
    private readonly host: ClueHost,
    private readonly results: ResultCache,
    private readonly threshold: () => number,
    /** Told of results rewritten at a new threshold (the stored entries were replaced). */
    private readonly onRewritten: (rewritten: StoredResult[]) => void,
    private readonly schedule: IdleScheduler,
  ) {}

  /** Thresholds one map into our labelmap: one image's labelmap, or the voxels under a plane. */
  write(
    target: LabelmapTarget & { displaySetInstanceUID: string },
    map: Float32Array,
    threshold: number,
    notify: boolean,
  ): LabelmapWrite {
    const others = this.results
      .list(target.displaySetInstanceUID)
      // An image result crosses only planes; a plane crosses images and other planes.
      .filter((kept) => kept.imageId !== target.imageId && (target.plane || kept.plane));
    return this.host.writeLabelmap(target, map, threshold, notify, others);
  }

  /** Writes `list` at `threshold` (no model run); notifies the host once per segmentation when asked. */
  rethreshold(list: StoredResult[], threshold: number, notify: boolean): void {
    const touched = new Map<string, Set<string>>();
    const rewritten: StoredResult[] = [];
    for (const kept of list) {
      if (kept.threshold === threshold) continue;
      if (!this.host.hasSegmentation(kept.segmentationId)) {
        // Removed without the event reaching us (e.g. a host that dropped our subscription):
        // its maps go, as the event would have done.
        this.results.clear(kept.displaySetInstanceUID);
        continue;
      }
      const written = this.write(kept, kept.map, threshold, false);
      const updated: StoredResult = { ...kept, threshold, voxelCount: written.voxelCount };
      this.results.set(updated);
      rewritten.push(updated);
      if (!touched.has(kept.segmentationId)) touched.set(kept.segmentationId, new Set());
      touched.get(kept.segmentationId)!.add(kept.viewportId);
    }
    if (notify)
      for (const [segmentationId, viewportIds] of touched) this.host.labelmapChanged(segmentationId, viewportIds);
    if (rewritten.length) this.onRewritten(rewritten);
  }

  /**
   * Re-thresholds every stored map: the slices on screen at once, the others in idle-time
   * chunks (160 slices of 29k voxels take the host's voxel manager a few hundred ms, too long
   * for a slider); a slice scrolled to before its turn is done when drawn (`catchUpDisplayed`).
   */
  apply(threshold: number): void {
    // What each viewport displays, asked of the host once per viewport (not once per stored slice).
    const displayed = new Map<string, string | null>();
    const keyOf = (viewportId: string) => {
      if (!displayed.has(viewportId)) displayed.set(viewportId, this.host.displayedKey(viewportId));
      return displayed.get(viewportId);
    };
    const onScreen = this.results.list().filter((kept) => keyOf(kept.viewportId) === kept.imageId);
    this.rethreshold(onScreen, threshold, true);
    this.scheduleCatchUp();
  }

  /** A slice drawn before the catch-up reached it gets its labelmap now. */
  catchUpDisplayed(kept: StoredResult): void {
    if (kept.threshold !== this.threshold()) this.rethreshold([kept], this.threshold(), true);
  }

  /** The off-screen slices, a few milliseconds at a time, when the browser is idle. */
  private scheduleCatchUp(): void {
    if (this.catchUpScheduled) return;
    this.catchUpScheduled = true;
    this.schedule(() => {
      this.catchUpScheduled = false;
      try {
        this.catchUpChunk();
      } catch (error) {
        // An idle callback has no caller to tell: the slice is rewritten when next drawn.
        console.warn('[clue] re-thresholding off-screen slices failed', error);
      }
    });
  }

  /** One idle chunk of the catch-up: stale slices for CATCH_UP_BUDGET_MS, then the next chunk. */
  private catchUpChunk(): void {
    const threshold = this.threshold();
    const stale = this.results.list().filter((kept) => kept.threshold !== threshold);
    if (stale.length === 0) return;
    const started = performance.now();
    let index = 0;
    while (index < stale.length && performance.now() - started < CATCH_UP_BUDGET_MS) {
      const kept = stale[index++]!;
      this.rethreshold([kept], threshold, false);
      this.catchUpTouched.add(kept.segmentationId);
    }
    if (index < stale.length) {
      this.scheduleCatchUp();
      return;
    }
    // All stale slices are written: tell the host once, for every segmentation touched.
    // No repaint: these slices are off screen.
    const touched = this.catchUpTouched;
    this.catchUpTouched = new Set();
    for (const segmentationId of touched) {
      if (this.host.hasSegmentation(segmentationId)) this.host.labelmapChanged(segmentationId, []);
    }
  }
}
