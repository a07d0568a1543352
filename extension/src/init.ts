// preRegistration: read our configuration, register ClueService with the host, and install
// the read-only inspection hook.
import { readClueConfig } from './config';
import { ClueService } from './service/ClueService';
import type { ClueState } from './service/state';
import type { HostExtensionParams, LabelmapInspection, OverlayInspection } from './viewer/host';

/**
 * `window.__clue`: what end-to-end tests (and a curious developer) read. Nothing in it
 * changes state; every answer comes from the host's real segmentation state and cache
 * through the same host adapter the service uses.
 */
export interface ClueInspectionHook {
  /** The service's current state (plain data). */
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

type ServicesManager = HostExtensionParams['servicesManager'];

/** The registered service (`services.clueService`). */
export function clueServiceOf(servicesManager: ServicesManager): ClueService {
  const service = servicesManager.services[ClueService.REGISTRATION.name];
  if (!(service instanceof ClueService)) {
    throw new Error('ClueService is not registered: the host did not run the extension’s preRegistration.');
  }
  return service;
}

export function preRegistration(params: HostExtensionParams): void {
  const { servicesManager } = params;
  if (!servicesManager.services[ClueService.REGISTRATION.name]) {
    if (typeof servicesManager.registerService !== 'function') {
      throw new Error('The host has no servicesManager.registerService (OHIF 3.12 or newer is required).');
    }
    servicesManager.registerService(ClueService.REGISTRATION);
  }
  const service = clueServiceOf(servicesManager);
  service.configure(readClueConfig(params.appConfig));

  const hook: ClueInspectionHook = {
    getState: () => structuredClone(service.getState()),
    inspectDisplayedLabelmap: (viewportId) => service.inspectDisplayedLabelmap(viewportId),
    listSegmentations: () => service.listSegmentations(),
    inspectOverlay: (viewportId) => service.inspectOverlay(viewportId),
    storedMap: (imageId) => service.inspectStoredMap(imageId),
  };
  if (typeof window !== 'undefined') window.__clue = hook;
}
