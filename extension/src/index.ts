// The OHIF extension object. The prebuilt viewer imports this bundle as an ES module and
// uses its default export (see docs/deploy.md).
import { getCommandsModule } from './commandsModule';
import { getHangingProtocolModule } from './getHangingProtocolModule';
import { getPanelModule } from './getPanelModule';
import { EXTENSION_ID } from './ids';
import { clueServiceOf, preRegistration } from './init';
import type { HostExtensionParams } from './viewer/host';

// The services manager of the last registration: mode exit reaches the service through it.
let registered: HostExtensionParams['servicesManager'] | null = null;

const extension = {
  id: EXTENSION_ID,

  preRegistration(params: HostExtensionParams) {
    registered = params.servicesManager;
    preRegistration(params);
  },

  getCommandsModule(params: HostExtensionParams) {
    return getCommandsModule({ clueService: clueServiceOf(params.servicesManager) });
  },

  getHangingProtocolModule,

  getPanelModule(params: HostExtensionParams) {
    return getPanelModule({
      commandsManager: params.commandsManager,
      clueService: clueServiceOf(params.servicesManager),
    });
  },

  /**
   * Leaving any mode: our segmentations and overlays go, the model's worker stops, and the
   * panel starts fresh next time. Called directly (the host may have left the command
   * context by now). The host's own SegmentationService.onModeExit then destroys every
   * remaining segmentation (OHIF 3.13 behaviour, not ours).
   */
  onModeExit() {
    try {
      if (registered) clueServiceOf(registered).dispose();
    } catch (error) {
      console.warn('[clue] cleanup on mode exit failed', error);
    }
  },
};

export default extension;
export { COMMANDS, EXTENSION_ID } from './ids';
