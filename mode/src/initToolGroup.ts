// The viewport tool group: navigation only (window/level, pan, zoom, stack scroll), bound
// to the mouse like every OHIF mode, with names taken from the host's cornerstone extension.

interface ToolsUtility {
  toolNames: Record<string, string>;
  Enums: {
    MouseBindings: { Primary: number; Secondary: number; Auxiliary: number; Wheel: number };
  };
}

export interface ToolGroupHost {
  extensionManager: { getModuleEntry(entry: string): { exports: unknown } | undefined };
  toolGroupService: { createToolGroupAndAddTools(toolGroupId: string, tools: unknown): unknown };
}

export function initToolGroup({ extensionManager, toolGroupService }: ToolGroupHost, toolGroupId: string): void {
  const entry = extensionManager.getModuleEntry('@ohif/extension-cornerstone.utilityModule.tools');
  if (!entry) throw new Error('CLUE mode: the viewer has no @ohif/extension-cornerstone tools utility module');
  const { toolNames, Enums } = entry.exports as ToolsUtility;
  const { Primary, Secondary, Auxiliary, Wheel } = Enums.MouseBindings;
  toolGroupService.createToolGroupAndAddTools(toolGroupId, {
    active: [
      { toolName: toolNames.WindowLevel, bindings: [{ mouseButton: Primary }] },
      { toolName: toolNames.Pan, bindings: [{ mouseButton: Auxiliary }] },
      { toolName: toolNames.Zoom, bindings: [{ mouseButton: Secondary }, { numTouchPoints: 2 }] },
      { toolName: toolNames.StackScroll, bindings: [{ mouseButton: Wheel }, { numTouchPoints: 3 }] },
    ],
    passive: [],
    enabled: [],
    disabled: [],
  });
}
