// The commands: thin actions over ClueService, in OHIF's commands-module shape (an `actions`
// object and a `definitions` map naming them). The toolbar, the hotkey and the panel run
// these; the service does the work and holds the state.
import { COMMANDS } from './ids';
import type { ClueService } from './service/ClueService';
import type { CompareOptions } from './service/comparison';

type ViewportOption = { viewportId?: string };

export function getCommandsModule({ clueService }: { clueService: ClueService }) {
  const actions = {
    runOnSlice: (options: ViewportOption = {}) => clueService.runOnSlice(options),
    runOnSeries: (options: ViewportOption = {}) => clueService.runOnSeries(options),
    cancel: () => clueService.cancel(),
    setThreshold: (options: { threshold: number }) => clueService.setThreshold(options),
    setOverlayOpacity: (options: { opacity: number }) => clueService.setOverlayOpacity(options),
    clear: () => clueService.clear(),
    dispose: () => clueService.dispose(),
    listGroundTruths: () => clueService.listGroundTruths(),
    compareWithGroundTruth: (options: CompareOptions = {}) => clueService.compareWithGroundTruth(options ?? {}),
    exportResults: (options: { format: 'csv' | 'json' }) => clueService.exportResults(options),
    downloadSeg: (options: ViewportOption = {}) => clueService.downloadSeg(options),
    downloadParametricMap: (options: ViewportOption = {}) => clueService.downloadParametricMap(options),
    storeToPacs: (options: ViewportOption = {}) => clueService.storeToPacs(options),
  };

  const definitions = Object.fromEntries(
    (Object.keys(actions) as Array<keyof typeof actions>).map((name) => [COMMANDS[name], { commandFn: actions[name] }]),
  );

  return { actions, definitions };
}
