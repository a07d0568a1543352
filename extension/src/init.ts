// preRegistration: read our configuration and install the read-only inspection hook.
import type { ClueActions, OverlayInspection } from './commandsModule';
import { readClueConfig } from './config';
import type { ClueState, ClueStore } from './state';
import { getHostLibraries } from './viewer/hostLibraries';
import type { HostExtensionParams } from './viewer/hostTypes';
import { inspectDisplayedLabelmap, isClueSegmentationId, type LabelmapInspection } from './viewer/labelmap';

/**
 * `window.__clue`: what end-to-end tests (and a curious developer) read. Nothing in it
 * changes state; every answer comes from the host's real segmentation state and cache
 * through the same viewer/ functions the commands use.
 */
export interface ClueInspectionHook {
  /** The store's current state (plain data). */
  getState(): ClueState;
  /** Our labelmap on the slice the viewport (default: active) displays, read from the host. */
  inspectDisplayedLabelmap(viewportId?: string): LabelmapInspection;
  /** Every segmentation in the host, marked ours or not. */
  listSegmentations(): Array<{ segmentationId: string; label: string | null; ours: boolean }>;
  /** Our heatmap overlay on the (active) viewport: attached, last paint, opaque canvas pixels. */
  inspectOverlay(viewportId?: string): OverlayInspection | null;
  /** A copy of the raw map stored for a source imageId (null: none stored), for recomputations. */
  storedMap(imageId: string): number[] | null;
}

declare global {
  interface Window {
    __clue?: ClueInspectionHook;
  }
}

export function preRegistration(
  params: HostExtensionParams,
  store: ClueStore,
  getActions: () => ClueActions | null = () => null,
): void {
  const config = readClueConfig(params.appConfig);
  store.setState((s) => ({ config, threshold: config.defaultThreshold, model: { ...s.model, url: config.modelUrl } }));

  const services = params.servicesManager.services;
  const hook: ClueInspectionHook = {
    getState: () => structuredClone(store.getState()),
    inspectDisplayedLabelmap: (viewportId) =>
      inspectDisplayedLabelmap(services, getHostLibraries(params.extensionManager), viewportId),
    listSegmentations: () =>
      (services.segmentationService.getSegmentations() ?? []).map((s) => ({
        segmentationId: s.segmentationId,
        label: s.label ?? null,
        ours: isClueSegmentationId(s.segmentationId),
      })),
    inspectOverlay: (viewportId) => getActions()?.inspectOverlay(viewportId) ?? null,
    storedMap: (imageId) => getActions()?.inspectStoredMap(imageId) ?? null,
  };
  if (typeof window !== 'undefined') window.__clue = hook;
}
