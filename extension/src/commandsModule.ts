// Commands: run on the displayed slice, move the threshold, clear. They are the only
// writers of the store; the panel and the toolbar/hotkey only call them.
import { COMMANDS } from './ids';
import { ClueInputError, messageForUser } from './errors';
import { placeholderMapper, type SliceMapper } from './sliceMapper';
import type { ClueStore, SliceResult } from './state';
import { getHostLibraries } from './viewer/hostLibraries';
import type { HostExtensionParams } from './viewer/hostTypes';
import { ensureClueLabelmap, removeClueSegmentations, writeMapToLabelmap } from './viewer/labelmap';
import { readDisplayedSlice } from './viewer/readSlice';

/** A computed map, kept so the threshold can change without recomputing it. */
interface KeptMap {
  map: Float32Array;
  result: SliceResult;
}

export interface ClueActions {
  runOnSlice(options?: { viewportId?: string }): Promise<void>;
  setThreshold(options: { threshold: number }): void;
  clear(): void;
}

function keyOf(segmentationId: string, imageId: string): string {
  return `${segmentationId}\n${imageId}`;
}

export function createClueActions(
  params: HostExtensionParams,
  store: ClueStore,
  mapper: SliceMapper = placeholderMapper,
): ClueActions {
  const services = params.servicesManager.services;
  const keptMaps = new Map<string, KeptMap>();
  // Each run takes a number; a run that finds a newer one started drops its result
  // instead of writing, so two quick runs never both write.
  let latestRun = 0;

  function reportError(error: unknown): void {
    const message = messageForUser(error);
    if (!(error instanceof ClueInputError)) console.error('[clue]', error);
    store.setState({ status: 'error', error: message, message: 'The run did not complete.' });
    services.uiNotificationService?.show({ title: 'CLUE', message, type: 'error', duration: 5000 });
  }

  async function runOnSlice(options: { viewportId?: string } = {}): Promise<void> {
    const run = ++latestRun;
    const started = performance.now();
    store.setState({ status: 'running', error: null, message: 'Computing the map for the displayed slice…' });
    try {
      const libraries = getHostLibraries(params.extensionManager);
      const viewportId = typeof options.viewportId === 'string' ? options.viewportId : undefined;
      const slice = readDisplayedSlice(services, libraries, viewportId);
      const { map, score } = await mapper.compute(slice);
      if (run !== latestRun) return;
      if (map.length !== slice.rows * slice.columns) {
        throw new Error(`${mapper.name} returned ${map.length} values for a ${slice.rows}×${slice.columns} slice`);
      }
      const segmentationId = await ensureClueLabelmap(services, libraries, slice.viewportId, slice.displaySet);
      if (run !== latestRun) return;

      const threshold = store.getState().threshold;
      const written = writeMapToLabelmap(services, libraries, {
        segmentationId,
        viewportId: slice.viewportId,
        imageId: slice.imageId,
        map,
        threshold,
      });
      let mapMin = Infinity;
      let mapMax = -Infinity;
      for (const v of map) {
        if (v < mapMin) mapMin = v;
        if (v > mapMax) mapMax = v;
      }
      const result: SliceResult = {
        segmentationId,
        viewportId: slice.viewportId,
        displaySetInstanceUID: slice.displaySet.displaySetInstanceUID,
        imageId: slice.imageId,
        labelmapImageId: written.labelmapImageId,
        rows: slice.rows,
        columns: slice.columns,
        mapName: mapper.name,
        threshold,
        voxelCount: written.voxelCount,
        score,
        mapMin,
        mapMax,
        modalityLut: slice.modalityLut,
        durationMs: performance.now() - started,
      };
      keptMaps.set(keyOf(segmentationId, slice.imageId), { map, result });
      store.setState({
        status: 'done',
        error: null,
        message: `Labelmap written: ${written.voxelCount} voxels at threshold ${threshold.toFixed(2)}.`,
        lastResult: result,
      });
    } catch (error) {
      if (run === latestRun) reportError(error);
    }
  }

  function setThreshold(options: { threshold: number }): void {
    const threshold = Number(options?.threshold);
    if (!Number.isFinite(threshold) || threshold < 0 || threshold > 1) {
      reportError(new ClueInputError(`Threshold must be a number in [0, 1], got ${String(options?.threshold)}.`));
      return;
    }
    store.setState({ threshold });
    const last = store.getState().lastResult;
    if (!last) return;
    try {
      const libraries = getHostLibraries(params.extensionManager);
      let lastResult: SliceResult | null = last;
      // Every slice we computed keeps showing the map at the current threshold.
      for (const [key, kept] of keptMaps) {
        if (!services.segmentationService.getSegmentation(kept.result.segmentationId)) {
          keptMaps.delete(key);
          continue;
        }
        const written = writeMapToLabelmap(services, libraries, {
          segmentationId: kept.result.segmentationId,
          viewportId: kept.result.viewportId,
          imageId: kept.result.imageId,
          map: kept.map,
          threshold,
        });
        kept.result = { ...kept.result, threshold, voxelCount: written.voxelCount };
        if (kept.result.segmentationId === last.segmentationId && kept.result.imageId === last.imageId) {
          lastResult = kept.result;
        }
      }
      store.setState({
        status: 'done',
        error: null,
        lastResult,
        message: `Threshold ${threshold.toFixed(2)}: ${lastResult.voxelCount} voxels on the slice.`,
      });
    } catch (error) {
      reportError(error);
    }
  }

  function clear(): void {
    latestRun++; // a run still in flight must not write after the clear
    keptMaps.clear();
    const removed = removeClueSegmentations(services);
    store.setState({
      status: 'idle',
      error: null,
      lastResult: null,
      message: removed.length ? `Removed ${removed.length} CLUE segmentation(s).` : 'Nothing to clear.',
    });
  }

  return { runOnSlice, setThreshold, clear };
}

/** The host's commands-module shape: `{ definitions: { name: { commandFn } } }`. */
export function getCommandsModule(actions: ClueActions) {
  return {
    definitions: {
      [COMMANDS.runOnSlice]: { commandFn: (options: { viewportId?: string }) => actions.runOnSlice(options) },
      [COMMANDS.setThreshold]: { commandFn: (options: { threshold: number }) => actions.setThreshold(options) },
      [COMMANDS.clear]: { commandFn: () => actions.clear() },
    },
  };
}
