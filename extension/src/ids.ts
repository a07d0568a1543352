// Names shared by the extension, the mode and the tests. One place, so a rename cannot drift.

export const EXTENSION_ID = '@clue-ohif/extension';
export const MODE_ID = '@clue-ohif/mode';
export const MODE_ROUTE_NAME = 'clue';

/** The panel's short name and the full module entry the mode's layout refers to. */
export const PANEL_NAME = 'cluePanel';
export const PANEL_ENTRY = `${EXTENSION_ID}.panelModule.${PANEL_NAME}`;

/** Command names (registered by the extension, used by the mode's toolbar and hotkey). */
export const COMMANDS = {
  runOnSlice: 'clueRunOnSlice',
  runOnSeries: 'clueRunOnSeries',
  cancel: 'clueCancel',
  setThreshold: 'clueSetThreshold',
  setOverlayOpacity: 'clueSetOverlayOpacity',
  clear: 'clueClear',
  /** Leaving the mode: clear ours, remove the overlays, stop the model worker. */
  dispose: 'clueDispose',
  listGroundTruths: 'clueListGroundTruths',
  compareWithGroundTruth: 'clueCompareWithGroundTruth',
  exportResults: 'clueExportResults',
  downloadSeg: 'clueDownloadSeg',
  downloadParametricMap: 'clueDownloadParametricMap',
  storeToPacs: 'clueStoreToPacs',
} as const;

/** Toolbar button id; the host renders it with data-cy="<id>". */
export const RUN_BUTTON_ID = 'clueRunOnSlice';

/**
 * Every segmentation we create has an id with this prefix, so we can find (and remove)
 * ours without ever touching the user's own segmentations.
 */
export const SEGMENTATION_ID_PREFIX = 'clue-anomaly::';

/** The segment index our labelmap writes for "above threshold". */
export const ANOMALY_SEGMENT_INDEX = 1;

/** Our hanging protocol: one stack viewport, opened at the middle slice. */
export const HANGING_PROTOCOL_ID = 'clueSingleSlice';
