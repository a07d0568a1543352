// The mode's toolbar, declared as data: our run button, the basic navigation tools, and
// the MPR toggle. Definitions use only command and evaluator names the host has provided
// since OHIF 3.9 (setToolActiveToolbar, toggleHangingProtocol, evaluate.cornerstoneTool,
// evaluate.action, evaluate.displaySetIsReconstructable).
import { COMMANDS, RUN_BUTTON_ID } from '../../extension/src/ids';

/** The tool group our viewports use (the default hanging protocol assigns 'default'). */
export const TOOL_GROUP_ID = 'default';

/**
 * The tool group of the host's 'mpr' hanging protocol (@ohif/extension-cornerstone: three
 * orthographic volume viewports, axial / sagittal / coronal, tool group 'mpr'). Without it
 * the MPR viewports would have no mouse tools (no scrolling through the planes).
 */
export const MPR_TOOL_GROUP_ID = 'mpr';

/** The button id (and data-cy) of the MPR toggle. */
export const MPR_BUTTON_ID = 'MPR';

const setToolActive = {
  commandName: 'setToolActiveToolbar',
  commandOptions: { toolGroupIds: [TOOL_GROUP_ID, MPR_TOOL_GROUP_ID] },
};

export interface ToolbarButton {
  id: string;
  uiType: string;
  props: Record<string, unknown>;
}

export const toolbarButtons: ToolbarButton[] = [
  {
    id: RUN_BUTTON_ID,
    uiType: 'ohif.toolButton',
    props: {
      icon: 'icon-tool-threshold',
      label: 'CLUE: run on slice',
      tooltip: 'Compute the anomaly map for the displayed slice (Shift+C)',
      commands: COMMANDS.runOnSlice,
      evaluate: 'evaluate.action',
    },
  },
  {
    id: 'Zoom',
    uiType: 'ohif.toolButton',
    props: {
      type: 'tool',
      icon: 'tool-zoom',
      label: 'Zoom',
      commands: setToolActive,
      evaluate: 'evaluate.cornerstoneTool',
    },
  },
  {
    id: 'Pan',
    uiType: 'ohif.toolButton',
    props: {
      type: 'tool',
      icon: 'tool-move',
      label: 'Pan',
      commands: setToolActive,
      evaluate: 'evaluate.cornerstoneTool',
    },
  },
  {
    id: 'WindowLevel',
    uiType: 'ohif.toolButton',
    props: {
      type: 'tool',
      icon: 'tool-window-level',
      label: 'Window Level',
      commands: setToolActive,
      evaluate: 'evaluate.cornerstoneTool',
    },
  },
  {
    id: 'StackScroll',
    uiType: 'ohif.toolButton',
    props: {
      type: 'tool',
      icon: 'tool-stack-scroll',
      label: 'Stack Scroll',
      commands: setToolActive,
      evaluate: 'evaluate.cornerstoneTool',
    },
  },
  {
    // As OHIF's basic viewer: the host's 'mpr' protocol on, and off again back to ours (the
    // host's toggleHangingProtocol remembers the protocol it replaced). Enabled only for a
    // series the host can build a volume from.
    id: MPR_BUTTON_ID,
    uiType: 'ohif.toolButton',
    props: {
      icon: 'icon-mpr',
      label: 'MPR',
      tooltip: 'MPR: axial, sagittal and coronal planes of the series (click again to go back)',
      commands: { commandName: 'toggleHangingProtocol', commandOptions: { protocolId: 'mpr' } },
      evaluate: 'evaluate.displaySetIsReconstructable',
    },
  },
  {
    id: 'Reset',
    uiType: 'ohif.toolButton',
    props: { icon: 'tool-reset', label: 'Reset View', commands: 'resetViewport', evaluate: 'evaluate.action' },
  },
];

/** Button ids of the primary toolbar section, in display order. */
export const primarySection: string[] = [
  RUN_BUTTON_ID,
  'WindowLevel',
  'Zoom',
  'Pan',
  'StackScroll',
  MPR_BUTTON_ID,
  'Reset',
];

/** The hotkey for our command, added to the host's bindings while the mode is active. */
export const clueHotkeys = [{ commandName: COMMANDS.runOnSlice, label: 'CLUE: run on slice', keys: ['shift+c'] }];
