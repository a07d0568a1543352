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
import { ClueInputError } from '../errors';
import { getHostDicomLoader, getHostLibraries, type HostLibraries } from './hostLibraries';
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
import { HeatmapOverlays, inspectOverlay, type OverlayInspection, type OverlaySource } from './heatmapOverlay';
import { listGroundTruthCandidates, readGroundTruthMasks, type GroundTruthCandidate } from './groundTruth';
import { sourceInstance, type SourceInstance } from './sourceInstances';
import { stowTarget, type StowTarget } from './dataSource';
import { checkHostVersion, type HostCheck } from './hostVersion';
import { heldByMasks, isPlaneKey, type PlaneSource, type StoredMask } from './volumePlane';

export type { HostExtensionParams } from './hostTypes';
export type { DisplayedSlice, ImageValues, SliceToMap } from './readSlice';
export type { GroundTruthCandidate } from './groundTruth';
export type { LabelmapInspection, LabelmapWrite } from './labelmap';
export type { OverlayInspection, OverlayResult, OverlaySource } from './heatmapOverlay';
export type { SourceInstance } from './sourceInstances';
export type { StowTarget } from './dataSource';
export type { HostCheck } from './hostVersion';

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
  /** The host's Cornerstone version against the tested hosts. */
  hostCheck(): HostCheck;

  listGroundTruthCandidates(): GroundTruthCandidate[];
  readGroundTruthMasks(
    segmentationId: string,
    segmentIndex: number | null,
    images: readonly { imageId: string; pixelCount: number }[],
  ): { masks: Uint8Array[]; coveredSlices: number };
  /**
   * A SEG of the open studies as its Part-10 bytes, fetched the way the host's own SEG loader
   * does (its dicomLoaderService, with the data source's authorization headers).
   */
  readGroundTruthFile(displaySetInstanceUID: string): Promise<ArrayBuffer>;
  /** The SEG display set's own UIDs (for the results record), when the host has it. */
  groundTruthReference(segmentationId: string): { seriesInstanceUID: string | null; sopInstanceUID: string | null };
  sourceInstance(imageId: string): SourceInstance;
  stowTarget(): StowTarget;

  /** Read-only views for the inspection hook. */
  inspectDisplayedLabelmap(viewportId?: string): LabelmapInspection;
  listSegmentations(): Array<{ segmentationId: string; label: string | null; ours: boolean }>;
}

/** The adapter over the host's params: one instance per registration of the service. */
class ViewerHost implements ClueHost {
  private readonly services: HostServices;
  private bound: HostLibraries | null = null;

  constructor(private readonly params: Pick<HostExtensionParams, 'servicesManager' | 'extensionManager'>) {
    this.services = params.servicesManager.services;
  }

  /** The host's Cornerstone, looked up once (it is there once the cornerstone extension registered). */
  private get libraries(): HostLibraries {
    return (this.bound ??= getHostLibraries(this.params.extensionManager));
  }

  private viewport(viewportId: string) {
    return this.services.cornerstoneViewportService.getCornerstoneViewport(viewportId);
  }

  private displaySet(displaySetInstanceUID: string) {
    const displaySet = this.services.displaySetService.getDisplaySetByUID(displaySetInstanceUID);
    if (!displaySet) throw new ClueInputError('The series is no longer open in the viewer; run again.');
    return displaySet;
  }

  resolveViewportId(viewportId?: string): string {
    return resolveViewportId(this.services, viewportId);
  }

  activeViewportId(): string | undefined {
    return this.services.viewportGridService.getActiveViewportId() ?? undefined;
  }

  readDisplayedSlice(viewportId?: string): Promise<DisplayedSlice> {
    return readDisplayedSliceLoaded(this.services, this.libraries, viewportId);
  }

  async readImage(imageId: string, what: string): Promise<ImageValues> {
    // Not cached: the host's loader fetches it; an image it cannot load is named as such.
    const image =
      this.libraries.cornerstone.cache.getImage(imageId) ?? (await loadImageOrExplain(this.libraries, imageId, what));
    return readImageValues(this.libraries, image, what);
  }

  displaySetOf(viewportId: string, imageId?: string) {
    const displaySet = getViewportDisplaySet(this.services, viewportId, imageId);
    return { displaySetInstanceUID: displaySet.displaySetInstanceUID, imageIds: displaySet.imageIds ?? [] };
  }

  displayedKey(viewportId: string): string | null {
    const viewport = this.viewport(viewportId);
    const view = viewport ? displayedView(this.libraries, viewport) : null;
    return view ? (view.kind === 'image' ? view.imageId : view.key) : null;
  }

  ensureLabelmap(viewportId: string, displaySetInstanceUID: string): Promise<string> {
    return ensureClueLabelmap(this.services, this.libraries, viewportId, this.displaySet(displaySetInstanceUID));
  }

  writeLabelmap(
    target: LabelmapTarget,
    map: Float32Array,
    threshold: number,
    notify: boolean,
    others: StoredMask[],
  ): LabelmapWrite {
    const held = heldByMasks(others);
    const { segmentationId, viewportId, imageId, plane } = target;
    if (plane) {
      return writeMapToPlane(this.services, this.libraries, {
        segmentationId,
        viewportId,
        source: plane,
        map,
        threshold,
        notify,
        heldElsewhere: held,
      });
    }
    return writeMapToLabelmap(this.services, this.libraries, {
      segmentationId,
      viewportId,
      imageId,
      map,
      threshold,
      notify,
      heldElsewhere: held && ((pixel) => held(imageId, pixel)),
    });
  }

  labelmapChanged(segmentationId: string, viewportIds: Iterable<string>): void {
    notifyLabelmapChanged(this.services, this.libraries, segmentationId, viewportIds);
  }

  hasSegmentation(segmentationId: string): boolean {
    return Boolean(this.services.segmentationService.getSegmentation(segmentationId));
  }

  removeOurSegmentations(): string[] {
    return removeClueSegmentations(this.services);
  }

  async showOurLabelmap(viewportId: string, displaySetInstanceUID: string, ourSegmentationId: string): Promise<void> {
    const { segmentationService } = this.services;
    // Already shown (the usual case), or removed by the user: nothing to do, no repaint.
    if (!segmentationService.getSegmentation(ourSegmentationId)) return;
    const specifier = { segmentationId: ourSegmentationId };
    if (segmentationService.getSegmentationRepresentations(viewportId, specifier).length) return;
    const segmentationId = await this.ensureLabelmap(viewportId, displaySetInstanceUID);
    this.labelmapChanged(segmentationId, [viewportId]);
  }

  onSegmentationRemoved(listener: (segmentationId: string) => void): () => void {
    const { segmentationService } = this.services;
    const subscription = segmentationService.subscribe(segmentationService.EVENTS.SEGMENTATION_REMOVED, (event) => {
      if (typeof event?.segmentationId === 'string') listener(event.segmentationId);
    });
    return () => subscription.unsubscribe();
  }

  createOverlays(source: OverlaySource): OverlayControl {
    let overlays: HeatmapOverlays | null = null;
    const created = () => (overlays ??= new HeatmapOverlays(this.libraries, source));
    return {
      attach: (viewportId) => {
        const viewport = this.viewport(viewportId);
        if (!viewport) return;
        created().attach(viewport);
        created().redrawAll();
      },
      redrawAll: () => overlays?.redrawAll(),
      detachAll: () => {
        overlays?.detachAll();
        overlays = null;
      },
      inspect: (viewportId, opacity) =>
        overlays?.inspect(viewportId, opacity) ?? inspectOverlay(viewportId, undefined, undefined, opacity),
    };
  }

  hostCheck(): HostCheck {
    return checkHostVersion(this.libraries.cornerstone.version);
  }

  notifyUser(message: string, type: 'error' | 'info'): void {
    this.services.uiNotificationService?.show({ title: 'CLUE', message, type, duration: 5000 });
  }

  listGroundTruthCandidates(): GroundTruthCandidate[] {
    return listGroundTruthCandidates(this.services);
  }

  readGroundTruthMasks(
    segmentationId: string,
    segmentIndex: number | null,
    images: readonly { imageId: string; pixelCount: number }[],
  ) {
    return readGroundTruthMasks(this.services, this.libraries, segmentationId, segmentIndex, images);
  }

  async readGroundTruthFile(displaySetInstanceUID: string): Promise<ArrayBuffer> {
    const displaySet = this.displaySet(displaySetInstanceUID);
    const headers = this.services.userAuthenticationService?.getAuthorizationHeader?.();
    const pending = getHostDicomLoader(this.params.extensionManager).findDicomDataPromise(displaySet, null, headers);
    if (!pending)
      throw new ClueInputError(
        `The viewer has no way to fetch the SEG "${displaySet.SeriesDescription ?? displaySetInstanceUID}".`,
      );
    try {
      return await pending;
    } catch (error) {
      const detail = error instanceof Error ? error.message : String((error as { status?: unknown })?.status ?? error);
      throw new ClueInputError(
        `The SEG "${displaySet.SeriesDescription ?? displaySetInstanceUID}" could not be fetched: ${detail}.`,
      );
    }
  }

  groundTruthReference(segmentationId: string) {
    const displaySet = this.services.displaySetService.getDisplaySetByUID(segmentationId);
    return {
      seriesInstanceUID: displaySet?.SeriesInstanceUID ?? null,
      sopInstanceUID: displaySet?.SOPInstanceUID ?? null,
    };
  }

  sourceInstance(imageId: string): SourceInstance {
    return sourceInstance(this.libraries, imageId);
  }

  stowTarget(): StowTarget {
    return stowTarget(this.params.extensionManager, this.services);
  }

  inspectDisplayedLabelmap(viewportId?: string): LabelmapInspection {
    return inspectDisplayedLabelmap(this.services, this.libraries, viewportId);
  }

  listSegmentations() {
    return (this.services.segmentationService.getSegmentations() ?? []).map((s) => ({
      segmentationId: s.segmentationId,
      label: s.label ?? null,
      ours: isClueSegmentationId(s.segmentationId),
    }));
  }
}

/** The adapter over the host's params. */
export function createViewerHost(params: Pick<HostExtensionParams, 'servicesManager' | 'extensionManager'>): ClueHost {
  return new ViewerHost(params);
}

export { isPlaneKey };
export { clueSegmentationId } from './labelmap';
export { isAboveThreshold } from './thresholdMask';
