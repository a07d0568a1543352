// The CLUE mode: its own route (/clue), the series list on the left, our panel on the
// right, one cornerstone stack viewport (our hanging protocol: the first image series, 1×1,
// opened at the middle slice), navigation tools plus our button, and a hotkey. Loaded by the
// prebuilt viewer as an ES module (default export).
import { COMMANDS, HANGING_PROTOCOL_ID, MODE_ID, MODE_ROUTE_NAME, PANEL_ENTRY } from '../../extension/src/ids';
import { resolveExtensionUrl } from './extensionUrl';
import { initToolGroup } from './initToolGroup';
import { MPR_TOOL_GROUP_ID, TOOL_GROUP_ID, clueHotkeys, primarySection, toolbarButtons } from './toolbarButtons';

const ohif = {
  layout: '@ohif/extension-default.layoutTemplateModule.viewerLayout',
  seriesList: '@ohif/extension-default.panelModule.seriesList',
  stackSopClassHandler: '@ohif/extension-default.sopClassHandlerModule.stack',
  cornerstoneViewport: '@ohif/extension-cornerstone.viewportModule.cornerstone',
  segSopClassHandler: '@ohif/extension-cornerstone-dicom-seg.sopClassHandlerModule.dicom-seg',
  segViewport: '@ohif/extension-cornerstone-dicom-seg.viewportModule.dicom-seg',
  // The host's Parametric Map support: the map fused over its referenced series in a volume
  // viewport (how our stored map reopens from the PACS; see docs/results-and-dicom.md).
  pmapSopClassHandler: '@ohif/extension-cornerstone-dicom-pmap.sopClassHandlerModule.dicom-pmap',
  pmapViewport: '@ohif/extension-cornerstone-dicom-pmap.viewportModule.dicom-pmap',
};

/** Studies made only of these have nothing for us to analyse. */
const NON_IMAGE_MODALITIES = ['SEG', 'SR', 'PR', 'RTSTRUCT', 'RTPLAN', 'DOC', 'KO', 'ECG'];

// The host's service names used here, typed loosely: the mode only wires things up.
interface ModeServices {
  toolbarService: {
    register(buttons: unknown[]): void;
    updateSection(section: string, ids: string[]): void;
    sections: { primary: string };
  };
  toolGroupService: { createToolGroupAndAddTools(id: string, tools: unknown): unknown; destroy(): void };
  customizationService: { setCustomizations(customizations: Record<string, unknown>): void };
  syncGroupService?: { destroy(): void };
  cornerstoneViewportService?: { destroy(): void };
  uiDialogService?: { hideAll?(): void };
  uiModalService?: { hide?(): void };
}

interface ModeLifecycleParams {
  servicesManager: { services: ModeServices };
  extensionManager: { getModuleEntry(entry: string): { exports: unknown } | undefined };
  commandsManager?: { runCommand(name: string, options?: Record<string, unknown>): unknown };
}

function currentAppConfig(): unknown {
  return typeof window === 'undefined' ? undefined : (window as unknown as { config?: unknown }).config;
}

export function extensionDependencies(appConfig: unknown = currentAppConfig()): Record<string, string> {
  return {
    [resolveExtensionUrl(appConfig, import.meta.url)]: '^0.1.0',
    '@ohif/extension-default': '^3.0.0',
    '@ohif/extension-cornerstone': '^3.0.0',
    '@ohif/extension-cornerstone-dicom-seg': '^3.0.0',
    '@ohif/extension-cornerstone-dicom-pmap': '^3.0.0',
  };
}

function layoutTemplate() {
  return {
    id: ohif.layout,
    props: {
      leftPanels: [ohif.seriesList],
      leftPanelResizable: true,
      rightPanels: [PANEL_ENTRY],
      rightPanelClosed: false,
      rightPanelResizable: true,
      viewports: [
        { namespace: ohif.cornerstoneViewport, displaySetsToDisplay: [ohif.stackSopClassHandler] },
        { namespace: ohif.segViewport, displaySetsToDisplay: [ohif.segSopClassHandler] },
        { namespace: ohif.pmapViewport, displaySetsToDisplay: [ohif.pmapSopClassHandler] },
      ],
    },
  };
}

export function createModeInstance(appConfig: unknown = currentAppConfig()) {
  // The commands manager arrives with onModeEnter but not with onModeExit.
  let commandsManager: ModeLifecycleParams['commandsManager'];

  return {
    id: MODE_ID,
    routeName: MODE_ROUTE_NAME,
    displayName: 'CLUE anomaly map',
    hangingProtocol: HANGING_PROTOCOL_ID,
    sopClassHandlers: [ohif.stackSopClassHandler, ohif.segSopClassHandler, ohif.pmapSopClassHandler],
    extensions: extensionDependencies(appConfig),
    validationTags: { study: [], series: [] },
    routes: [{ path: MODE_ROUTE_NAME, layoutTemplate }],

    isValidMode({ modalities }: { modalities: string }) {
      const list = (modalities ?? '').split('\\').filter(Boolean);
      const valid = list.length === 0 || list.some((m) => !NON_IMAGE_MODALITIES.includes(m));
      return { valid, description: valid ? '' : 'CLUE needs an image series (this study has none)' };
    },

    onModeEnter({ servicesManager, extensionManager, commandsManager: commands }: ModeLifecycleParams) {
      commandsManager = commands;
      const { toolbarService, toolGroupService, customizationService } = servicesManager.services;
      initToolGroup({ extensionManager, toolGroupService }, TOOL_GROUP_ID);
      initToolGroup({ extensionManager, toolGroupService }, MPR_TOOL_GROUP_ID);
      toolbarService.register(toolbarButtons);
      toolbarService.updateSection(toolbarService.sections.primary, primarySection);
      // Mode scope: the host resets it on every mode enter, and reads the bindings right
      // after onModeEnter.
      customizationService.setCustomizations({ 'ohif.hotkeyBindings': { $push: clueHotkeys } });
    },

    onModeExit({ servicesManager }: ModeLifecycleParams) {
      // Ours only: our segmentations, heatmap overlays and model worker (the extension's
      // onModeExit does the same directly, in case this command context is gone). We do not
      // destroy the segmentation service ourselves: that would drop the user's own
      // segmentations. (OHIF 3.13's SegmentationService.onModeExit still destroys every
      // segmentation on any mode exit; that is the host's behaviour, not ours.)
      try {
        commandsManager?.runCommand(COMMANDS.dispose);
      } catch (error) {
        console.warn('[clue] could not remove our segmentations on mode exit', error);
      }
      const s = servicesManager.services;
      s.uiDialogService?.hideAll?.();
      s.uiModalService?.hide?.();
      s.toolGroupService.destroy();
      s.syncGroupService?.destroy();
      s.cornerstoneViewportService?.destroy();
    },
  };
}

const mode = {
  id: MODE_ID,
  modeFactory: () => createModeInstance(),
  get extensionDependencies() {
    return extensionDependencies();
  },
};

export default mode;
