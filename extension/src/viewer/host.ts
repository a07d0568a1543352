// The host adapter: the one object through which the rest of the extension reaches OHIF and
// Cornerstone. It is bound once to the extension's params; the host's Cornerstone libraries
// are looked up on first use (the cornerstone extension may register after ours) and kept.
// Everything outside viewer/ sees only this interface and plain data: image ids, display-set
// UIDs, Float32Arrays.
import { isClueSegmentationId, type LabelmapInspection, type LabelmapWrite } from './labelmap';
import {
  ensureClueLabelmap,
  inspectDisplayedLabelmap,
  notifyLabelmapChanged,
  removeClueSegmentations,
  writeMapToLabelmap,
  writeMapToPlane,
} from './labelmap';
import { getHostLibraries, type HostLibraries } from './hostLibraries';
import type { HostExtensionParams, HostServices } from './hostTypes';
import {
  displayedView,
  getViewportDisplaySet,
  loadImageOrExplain,
  readDisplayedSliceLoaded,
  readImageValues,
  resolveViewportId,
  type DisplayedSlice,
  type ImageValues,
} from './readSlice';
import { HeatmapOverlays, type OverlayInspection, type OverlaySource } from './heatmapOverlay';
import { listGroundTruthCandidates, readGroundTruthMasks, type GroundTruthCandidate } from './groundTruth';
import { sourceInstance, type SourceInstance } from './sourceInstances';
import { stowTarget, type StowTarget } from './dataSource';
import { heldByMasks, isPlaneKey, type PlaneSource, type StoredMask } from './volumePlane';

export type { HostExtensionParams } from './hostTypes';
export type { DisplayedSlice, ImageValues, SliceToMap } from './readSlice';
export type { GroundTruthCandidate } from './groundTruth';
export type { LabelmapInspection, LabelmapWrite } from './labelmap';
export type { OverlayInspection, OverlayResult, OverlaySource } from './heatmapOverlay';
export type { SourceInstance } from './sourceInstances';
export type { StowTarget } from './dataSource';

/** Where one result goes in our labelmap: a source image, or the voxels under a reformatted plane. */
export interface LabelmapTarget {
  segmentationId: string;
  viewportId: string;
  imageId: string;
  plane?: PlaneSource;
}

/** The overlay on the host's viewports, once created. */
export interface OverlayControl {
  /** Attaches our canvas to the viewport (and, from then on, to viewports enabled later) and repaints. */
  attach(viewportId: string): void;
  redrawAll(): void;
  detachAll(): void;
  inspect(viewportId: string, opacity: number): OverlayInspection;
}

export interface ClueHost {
  /** The viewport to work on: the one asked for, else the active one. */
  resolveViewportId(viewportId?: string): string;
  activeViewportId(): string | undefined;
  /** The slice the viewport displays (waiting for its image when it is still loading). */
  readDisplayedSlice(viewportId?: string): Promise<DisplayedSlice>;
  /** One image of a series, from the cache or the host's loader; `what` names it in messages. */
  readImage(imageId: string, what: string): Promise<ImageValues>;
  /** The image display set a viewport shows (containing `imageId` when given); throws when none. */
  displaySetOf(viewportId: string, imageId?: string): { displaySetInstanceUID: string; imageIds: string[] };
  /** What a viewport displays, as results are keyed (image id or plane key); null if nothing. */
  displayedKey(viewportId: string): string | null;

  /** Our labelmap for the display set, created when missing and shown on the viewport. */
  ensureLabelmap(viewportId: string, displaySetInstanceUID: string): Promise<string>;
  /**
   * Thresholds `map` into our labelmap. Voxels that `others` flag (other stored results, at
   * the thresholds they were written at) stay set, so results compose.
   */
  writeLabelmap(
    target: LabelmapTarget,
    map: Float32Array,
    threshold: number,
    notify: boolean,
    others: StoredMask[],
  ): LabelmapWrite;
  /** Tells the host a segmentation's voxels changed; repaints the viewports that do not show it. */
  labelmapChanged(segmentationId: string, viewportIds: Iterable<string>): void;
  hasSegmentation(segmentationId: string): boolean;
  /** Removes our segmentations (never the user's); returns their ids. */
  removeOurSegmentations(): string[];
  /** Puts our labelmap back on a viewport where loading a SEG replaced it. */
  showOurLabelmap(viewportId: string, displaySetInstanceUID: string, ourSegmentationId: string): Promise<void>;
  /** Calls `listener` with the id of every segmentation the host removes (user, mode exit). */
  onSegmentationRemoved(listener: (segmentationId: string) => void): () => void;
  /** The heatmap overlay, painting what `source` says. */
  createOverlays(source: OverlaySource): OverlayControl;
  notifyUser(message: string, type: 'error' | 'info'): void;

  listGroundTruthCandidates(): GroundTruthCandidate[];
  readGroundTruthMasks(
    segmentationId: string,
    segmentIndex: number | null,
    images: readonly { imageId: string; pixelCount: number }[],
  ): { masks: Uint8Array[]; coveredSlices: number };
  /** The SEG display set's own UIDs (for the results record), when the host has it. */
  groundTruthReference(segmentationId: string): { seriesInstanceUID: string | null; sopInstanceUID: string | null };
  sourceInstance(imageId: string): SourceInstance;
  stowTarget(): StowTarget;

  /** Read-only views for the inspection hook. */
  inspectDisplayedLabelmap(viewportId?: string): LabelmapInspection;
  listSegmentations(): Array<{ segmentationId: string; label: string | null; ours: boolean }>;
}

/** The adapter over the host's params. */
export function createViewerHost(params: HostExtensionParams): ClueHost {
  const services: HostServices = params.servicesManager.services;
  let bound: HostLibraries | null = null;
  const libraries = (): HostLibraries => (bound ??= getHostLibraries(params.extensionManager));
  const viewportOf = (viewportId: string) => services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  const displaySetOf = (viewportId: string, imageId?: string) => {
    const displaySet = getViewportDisplaySet(services, viewportId, imageId);
    return { displaySetInstanceUID: displaySet.displaySetInstanceUID, imageIds: displaySet.imageIds ?? [] };
  };

  return {
    resolveViewportId: (viewportId) => resolveViewportId(services, viewportId),
    activeViewportId: () => services.viewportGridService.getActiveViewportId() ?? undefined,
    readDisplayedSlice: (viewportId) => readDisplayedSliceLoaded(services, libraries(), viewportId),
    async readImage(imageId, what) {
      // Not cached: the host's loader fetches it; an image it cannot load is named as such.
      const image =
        libraries().cornerstone.cache.getImage(imageId) ?? (await loadImageOrExplain(libraries(), imageId, what));
      return readImageValues(libraries(), image, what);
    },
    displaySetOf,
    displayedKey(viewportId) {
      const viewport = viewportOf(viewportId);
      const view = viewport ? displayedView(libraries(), viewport) : null;
      return view ? (view.kind === 'image' ? view.imageId : view.key) : null;
    },

    ensureLabelmap(viewportId, displaySetInstanceUID) {
      const displaySet = services.displaySetService.getDisplaySetByUID(displaySetInstanceUID);
      if (!displaySet) throw new Error(`display set ${displaySetInstanceUID} is gone`);
      return ensureClueLabelmap(services, libraries(), viewportId, displaySet);
    },
    writeLabelmap(target, map, threshold, notify, others) {
      const held = heldByMasks(others);
      const { segmentationId, viewportId, imageId, plane } = target;
      return plane
        ? writeMapToPlane(services, libraries(), {
            segmentationId,
            viewportId,
            source: plane,
            map,
            threshold,
            notify,
            heldElsewhere: held,
          })
        : writeMapToLabelmap(services, libraries(), {
            segmentationId,
            viewportId,
            imageId,
            map,
            threshold,
            notify,
            heldElsewhere: held && ((pixel) => held(imageId, pixel)),
          });
    },
    labelmapChanged: (segmentationId, viewportIds) =>
      notifyLabelmapChanged(services, libraries(), segmentationId, viewportIds),
    hasSegmentation: (segmentationId) => Boolean(services.segmentationService.getSegmentation(segmentationId)),
    removeOurSegmentations: () => removeClueSegmentations(services),
    async showOurLabelmap(viewportId, displaySetInstanceUID, ourSegmentationId) {
      const { segmentationService } = services;
      // Already shown (the usual case), or removed by the user: nothing to do, no repaint.
      if (!segmentationService.getSegmentation(ourSegmentationId)) return;
      if (segmentationService.getSegmentationRepresentations(viewportId, { segmentationId: ourSegmentationId }).length)
        return;
      const displaySet = services.displaySetService.getDisplaySetByUID(displaySetInstanceUID);
      if (!displaySet) return;
      const segmentationId = await ensureClueLabelmap(services, libraries(), viewportId, displaySet);
      notifyLabelmapChanged(services, libraries(), segmentationId, [viewportId]);
    },
    onSegmentationRemoved(listener) {
      const { segmentationService } = services;
      const subscription = segmentationService.subscribe(
        segmentationService.EVENTS.SEGMENTATION_REMOVED,
        (event: { segmentationId?: string }) => {
          if (typeof event?.segmentationId === 'string') listener(event.segmentationId);
        },
      );
      return () => subscription.unsubscribe();
    },
    createOverlays(source) {
      let overlays: HeatmapOverlays | null = null;
      const created = () => (overlays ??= new HeatmapOverlays(libraries(), source));
      return {
        attach(viewportId) {
          const viewport = viewportOf(viewportId);
          if (!viewport) return;
          created().attach(viewport);
          created().redrawAll();
        },
        redrawAll: () => overlays?.redrawAll(),
        detachAll() {
          overlays?.detachAll();
          overlays = null;
        },
        inspect: (viewportId, opacity) =>
          overlays?.inspect(viewportId, opacity) ?? {
            viewportId,
            attached: false,
            imageId: null,
            paintedPixels: 0,
            canvasOpaquePixels: 0,
            opacity,
          },
      };
    },
    notifyUser: (message, type) =>
      services.uiNotificationService?.show({ title: 'CLUE', message, type, duration: 5000 }),

    listGroundTruthCandidates: () => listGroundTruthCandidates(services),
    readGroundTruthMasks: (segmentationId, segmentIndex, images) =>
      readGroundTruthMasks(services, libraries(), segmentationId, segmentIndex, images),
    groundTruthReference(segmentationId) {
      const displaySet = services.displaySetService.getDisplaySetByUID(segmentationId);
      return {
        seriesInstanceUID: displaySet?.SeriesInstanceUID ?? null,
        sopInstanceUID: displaySet?.SOPInstanceUID ?? null,
      };
    },
    sourceInstance: (imageId) => sourceInstance(libraries(), imageId),
    stowTarget: () => stowTarget(params.extensionManager, services),

    inspectDisplayedLabelmap: (viewportId) => inspectDisplayedLabelmap(services, libraries(), viewportId),
    listSegmentations: () =>
      (services.segmentationService.getSegmentations() ?? []).map((s) => ({
        segmentationId: s.segmentationId,
        label: s.label ?? null,
        ours: isClueSegmentationId(s.segmentationId),
      })),
  };
}

export { isPlaneKey };
export { clueSegmentationId } from './labelmap';
export { isAboveThreshold } from './thresholdMask';
