import { describe, expect, it } from 'vitest';
import { getHangingProtocolModule } from '../../../extension/src/getHangingProtocolModule';
import { COMMANDS, HANGING_PROTOCOL_ID, MODE_ROUTE_NAME, PANEL_ENTRY, RUN_BUTTON_ID } from '../../../extension/src/ids';
import mode, { createModeInstance } from '../../../mode/src/index';
import { resolveExtensionUrl } from '../../../mode/src/extensionUrl';
import {
  MPR_BUTTON_ID,
  MPR_TOOL_GROUP_ID,
  TOOL_GROUP_ID,
  primarySection,
  toolbarButtons,
} from '../../../mode/src/toolbarButtons';

describe('resolveExtensionUrl', () => {
  it('defaults to clue-extension.js next to the mode bundle', () => {
    expect(resolveExtensionUrl({}, 'http://h:3000/clue/clue-mode.js')).toBe('http://h:3000/clue/clue-extension.js');
    expect(resolveExtensionUrl(undefined, 'https://pacs.example/viewer/plugins/clue-mode.js?v=1')).toBe(
      'https://pacs.example/viewer/plugins/clue-extension.js',
    );
  });
  it('uses window.config.clue.extensionUrl when set', () => {
    expect(resolveExtensionUrl({ clue: { extensionUrl: '/x/ext.js' } }, 'http://h/clue-mode.js')).toBe('/x/ext.js');
    expect(resolveExtensionUrl({ clue: { extensionUrl: '  ' } }, 'http://h/a/clue-mode.js')).toBe(
      'http://h/a/clue-extension.js',
    );
  });
});

describe('the mode definition', () => {
  const instance = createModeInstance({ clue: { extensionUrl: '/clue/clue-extension.js' } });

  it('has the host’s factory shape and our route', () => {
    expect(mode.id).toBe(instance.id);
    expect(typeof mode.modeFactory).toBe('function');
    expect(instance.routeName).toBe(MODE_ROUTE_NAME);
  });

  it('keys our extension by an importable URL, never a bare package name', () => {
    const keys = Object.keys(instance.extensions);
    expect(keys).toContain('/clue/clue-extension.js');
    expect(keys).not.toContain('@clue-ohif/extension');
  });

  it('puts our panel on the right and uses a hanging protocol our extension provides', () => {
    const layout = instance.routes[0]!.layoutTemplate();
    expect(layout.props.rightPanels).toEqual([PANEL_ENTRY]);
    expect(getHangingProtocolModule().map((p) => p.name)).toContain(instance.hangingProtocol);
    expect(instance.hangingProtocol).toBe(HANGING_PROTOCOL_ID);
  });

  it('declares every primary-section button, ours running our command', () => {
    const ids = toolbarButtons.map((b) => b.id);
    for (const id of primarySection) expect(ids).toContain(id);
    const run = toolbarButtons.find((b) => b.id === RUN_BUTTON_ID)!;
    expect(run.props.commands).toBe(COMMANDS.runOnSlice);
  });

  it('offers the host’s MPR protocol (toggled on and off) and gives its viewports our tools', () => {
    const mpr = toolbarButtons.find((b) => b.id === MPR_BUTTON_ID)!;
    expect(primarySection).toContain(MPR_BUTTON_ID);
    expect(mpr.props.commands).toEqual({ commandName: 'toggleHangingProtocol', commandOptions: { protocolId: 'mpr' } });
    const groups: string[] = [];
    const services = {
      toolbarService: { register: () => {}, updateSection: () => {}, sections: { primary: 'primary' } },
      toolGroupService: { createToolGroupAndAddTools: (id: string) => groups.push(id), destroy: () => {} },
      customizationService: { setCustomizations: () => {} },
    };
    const extensionManager = { getModuleEntry: () => ({ exports: { toolNames: {}, Enums: { MouseBindings: {} } } }) };
    createModeInstance({}).onModeEnter({
      servicesManager: { services },
      extensionManager,
      commandsManager: { runCommand: () => {} },
    } as never);
    expect(groups).toEqual([TOOL_GROUP_ID, MPR_TOOL_GROUP_ID]);
  });

  it('is valid for image studies and not for studies of only SEG/SR', () => {
    expect(instance.isValidMode({ modalities: 'MR\\SEG' }).valid).toBe(true);
    expect(instance.isValidMode({ modalities: 'SEG\\SR' }).valid).toBe(false);
  });
});

describe('leaving the mode', () => {
  it('removes only ours (dispose command) and never destroys the host’s segmentation service', () => {
    const instance = createModeInstance({});
    const calls: string[] = [];
    const services = {
      toolbarService: { register: () => {}, updateSection: () => {}, sections: { primary: 'primary' } },
      toolGroupService: {
        createToolGroupAndAddTools: () => ({}),
        destroy: () => calls.push('toolGroupService.destroy'),
      },
      customizationService: { setCustomizations: () => {} },
      segmentationService: { destroy: () => calls.push('segmentationService.destroy') },
      cornerstoneViewportService: { destroy: () => calls.push('cornerstoneViewportService.destroy') },
    };
    const commandsManager = { runCommand: (name: string) => calls.push(`command:${name}`) };
    const extensionManager = {
      getModuleEntry: () => ({ exports: { toolNames: {}, Enums: { MouseBindings: {} } } }),
    };
    instance.onModeEnter({ servicesManager: { services }, extensionManager, commandsManager } as never);
    instance.onModeExit({ servicesManager: { services }, extensionManager } as never);
    expect(calls).toContain(`command:${COMMANDS.dispose}`);
    expect(calls).not.toContain('segmentationService.destroy');
  });
});
