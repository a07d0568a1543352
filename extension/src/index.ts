// The OHIF extension object. The prebuilt viewer imports this bundle as an ES module and
// uses its default export (see docs/deploy.md).
import { COMMANDS, EXTENSION_ID } from './ids';
import { createClueActions, getCommandsModule } from './commandsModule';
import { getHangingProtocolModule } from './getHangingProtocolModule';
import { getPanelModule } from './getPanelModule';
import { preRegistration } from './init';
import { clueStore } from './runtime';
import type { HostExtensionParams } from './viewer/hostTypes';

const extension = {
  id: EXTENSION_ID,

  preRegistration(params: HostExtensionParams) {
    preRegistration(params, clueStore);
  },

  getCommandsModule(params: HostExtensionParams) {
    return getCommandsModule(createClueActions(params, clueStore));
  },

  getHangingProtocolModule,

  getPanelModule(params: HostExtensionParams) {
    return getPanelModule({ commandsManager: params.commandsManager, store: clueStore });
  },

  /** Leaving any mode: our segmentations go, and the panel starts fresh next time. */
  onModeExit({ commandsManager }: Pick<HostExtensionParams, 'commandsManager'>) {
    try {
      commandsManager.runCommand(COMMANDS.clear);
    } catch (error) {
      console.warn('[clue] cleanup on mode exit failed', error);
    }
  },
};

export default extension;
export { COMMANDS, EXTENSION_ID } from './ids';
