// The OHIF extension object. The prebuilt viewer imports this bundle as an ES module and
// uses its default export (see docs/deploy.md).
import { EXTENSION_ID } from './ids';
import { createClueActions, getCommandsModule, type ClueActions } from './commandsModule';
import { getHangingProtocolModule } from './getHangingProtocolModule';
import { getPanelModule } from './getPanelModule';
import { preRegistration } from './init';
import { clueStore } from './runtime';
import type { HostExtensionParams } from './viewer/hostTypes';

// One set of actions per registration (the inspection hook reads the overlay through it).
let actions: ClueActions | null = null;

const extension = {
  id: EXTENSION_ID,

  preRegistration(params: HostExtensionParams) {
    preRegistration(params, clueStore, () => actions);
  },

  getCommandsModule(params: HostExtensionParams) {
    actions = createClueActions(params, clueStore);
    return getCommandsModule(actions);
  },

  getHangingProtocolModule,

  getPanelModule(params: HostExtensionParams) {
    return getPanelModule({ commandsManager: params.commandsManager, store: clueStore });
  },

  /**
   * Leaving any mode: our segmentations and overlays go, the model's worker stops, and the
   * panel starts fresh next time. Called directly (the host may have left the command
   * context by now). The host's own SegmentationService.onModeExit then destroys every
   * remaining segmentation (OHIF 3.13 behaviour, not ours).
   */
  onModeExit() {
    try {
      actions?.dispose();
    } catch (error) {
      console.warn('[clue] cleanup on mode exit failed', error);
    }
  },
};

export default extension;
export { COMMANDS, EXTENSION_ID } from './ids';
