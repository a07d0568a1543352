// The panel module. The host renders `CluePanelHost` with ITS React; that component is
// hook-free and only returns a div whose (stable) callback ref mounts our own React island.
import { createElement } from 'react';
import { COMMANDS, PANEL_NAME } from './ids';
import { mountPanelIsland } from './panel/mountIsland';
import type { ClueService } from './service/ClueService';
import type { HostExtensionParams } from './viewer/host';

export function getPanelModule({
  commandsManager,
  clueService,
}: {
  commandsManager: HostExtensionParams['commandsManager'];
  clueService: ClueService;
}) {
  const islands = new Map<HTMLElement, () => void>();

  // One function for the module's lifetime: React calls a stable ref only on attach and
  // detach, never on every host re-render.
  function attachIsland(node: HTMLDivElement | null): void {
    if (node && !islands.has(node)) {
      islands.set(
        node,
        mountPanelIsland(node, {
          store: clueService.stateSource,
          onRun: () => void commandsManager.runCommand(COMMANDS.runOnSlice),
          onRunSeries: () => void commandsManager.runCommand(COMMANDS.runOnSeries),
          onCancel: () => void commandsManager.runCommand(COMMANDS.cancel),
          onThresholdChange: (threshold) => void commandsManager.runCommand(COMMANDS.setThreshold, { threshold }),
          onOpacityChange: (opacity) => void commandsManager.runCommand(COMMANDS.setOverlayOpacity, { opacity }),
          onClear: () => void commandsManager.runCommand(COMMANDS.clear),
          onListGroundTruths: () => void commandsManager.runCommand(COMMANDS.listGroundTruths),
          onCompare: (segmentationId, segmentIndex) =>
            void commandsManager.runCommand(COMMANDS.compareWithGroundTruth, {
              segmentationId: segmentationId || undefined,
              segmentIndex,
            }),
          onExport: (format) => void commandsManager.runCommand(COMMANDS.exportResults, { format }),
          onDownloadSeg: () => void commandsManager.runCommand(COMMANDS.downloadSeg),
          onDownloadParametricMap: () => void commandsManager.runCommand(COMMANDS.downloadParametricMap),
          onStoreToPacs: () => void commandsManager.runCommand(COMMANDS.storeToPacs),
        }),
      );
    }
    // Detach: unmount islands whose element has left the page, after the host's commit
    // (unmounting inside another renderer's commit is not allowed).
    queueMicrotask(() => {
      for (const [element, unmount] of islands) {
        if (!element.isConnected) {
          islands.delete(element);
          unmount();
        }
      }
    });
  }

  function CluePanelHost() {
    return createElement('div', {
      ref: attachIsland,
      'data-testid': 'clue-panel-host',
      style: { height: '100%', overflow: 'auto' },
    });
  }

  return [
    {
      name: PANEL_NAME,
      iconName: 'tab-segmentation',
      iconLabel: 'CLUE',
      label: 'CLUE',
      component: CluePanelHost,
    },
  ];
}
