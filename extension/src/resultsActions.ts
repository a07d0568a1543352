// Ground-truth comparison, exports and "back to the PACS": the commands behind the panel's
// "Compare with ground truth" and "Save" sections. They read the stored maps (never rerun the
// model), the host's segmentations and metadata (through viewer/), and write only the store.
// Failures are messages in the panel; the maps stay in the viewer for another try.
import { ClueInputError, messageForUser } from './errors';
import {
  buildResultsRecord,
  metricsAtThreshold,
  resultsFileName,
  resultsToCsv,
  resultsToJson,
  type GroundTruthMetrics,
  type ModelIdentity,
  type PreparedComparison,
  type ResultsContext,
  type ResultsRecord,
  type SliceInput,
} from './metrics';
import { INITIAL_SAVE, type ClueStore, type ComparisonState, type GroundTruthOption, type SaveState } from './state';
import { getHostLibraries, type HostLibraries } from './viewer/hostLibraries';
import type { HostDisplaySet, HostExtensionParams } from './viewer/hostTypes';
import { listGroundTruthCandidates, readGroundTruthMasks } from './viewer/groundTruth';
import { clueSegmentationId, ensureClueLabelmap, notifyLabelmapChanged } from './viewer/labelmap';
import { getViewportDisplaySet, resolveViewportId } from './viewer/readSlice';
import { sourceInstance, type SourceInstance } from './viewer/sourceInstances';
import { stowTarget } from './viewer/dataSource';
import { isAboveThreshold } from './viewer/thresholdMask';
import { runComparison } from './workflow/comparison';
import { downloadFile } from './workflow/download';
import type { StoredSliceResult } from './workflow/resultCache';

export interface ResultsActions {
  /** Lists the host's segmentations that can serve as ground truth (and puts them in the store). */
  listGroundTruths(): GroundTruthOption[];
  /** Compares the displayed series' stored maps with a ground truth (segmentIndex null: any non-zero). */
  compareWithGroundTruth(options: {
    segmentationId?: string;
    segmentIndex?: number | null;
    viewportId?: string;
  }): Promise<void>;
  /** The record the exports write: the last comparison at the current threshold (null: none yet). */
  resultsRecord(): ResultsRecord | null;
  exportResults(options: { format: 'csv' | 'json' }): void;
  downloadSeg(options?: { viewportId?: string }): Promise<void>;
  downloadParametricMap(options?: { viewportId?: string }): Promise<void>;
  storeToPacs(options?: { viewportId?: string }): Promise<void>;
  /** Stops a comparison in flight: its result is dropped when it arrives (Clear, mode exit). */
  cancelComparison(): void;
}

/** The comparison on show: its prepared (threshold-free) part, and its numbers at one threshold. */
interface ShownComparison {
  prepared: PreparedComparison;
  context: ResultsContext | null;
  metrics: GroundTruthMetrics;
  record: ResultsRecord | null;
}

/** The maps of one display set, in the display set's own slice order. */
interface SeriesMaps {
  displaySet: HostDisplaySet;
  slices: StoredSliceResult[];
}

export function createResultsActions(
  params: HostExtensionParams,
  store: ClueStore,
  listStored: (displaySetInstanceUID: string) => StoredSliceResult[],
): ResultsActions {
  const services = params.servicesManager.services;
  let comparisonRun = 0;
  let comparisonAbort: AbortController | null = null;
  /**
   * The comparison the store shows, kept so its Dice / IoU follow the threshold: `metrics` is the
   * very object in the store (identity tells us when Clear or anything else replaced it), and
   * `record` the export record of those numbers (null when the model identity is unknown).
   */
  let shown: ShownComparison | null = null;

  const setComparison = (update: Partial<ComparisonState>) =>
    store.setState((s) => ({ comparison: { ...s.comparison, ...update } }));
  const setSave = (update: Partial<SaveState>) => store.setState((s) => ({ save: { ...s.save, ...update } }));

  /** A prepared comparison's numbers at `threshold` (binary searches: microseconds), and their record. */
  function atThreshold(
    prepared: PreparedComparison,
    context: ResultsContext | null,
    threshold: number,
  ): ShownComparison {
    const metrics = metricsAtThreshold(prepared, threshold);
    return { prepared, context, metrics, record: context ? buildResultsRecord(context, metrics) : null };
  }

  // The comparison follows the threshold, whoever sets it (slider, command, the manifest's
  // default): each change is answered synchronously before the next, so a quick slider leaves
  // no queue behind and ends on its last value. Cheap when nothing changed (two comparisons).
  store.subscribe(() => {
    if (!shown) return;
    const { comparison, threshold } = store.getState();
    if (comparison.metrics !== shown.metrics) {
      shown = null; // cleared or replaced: let the sorted scores go
      return;
    }
    if (shown.metrics.threshold === threshold) return;
    shown = atThreshold(shown.prepared, shown.context, threshold);
    setComparison({ metrics: shown.metrics });
  });

  function seriesMaps(viewportId?: string): SeriesMaps {
    const displaySet = getViewportDisplaySet(services, resolveViewportId(services, viewportId));
    const stored = listStored(displaySet.displaySetInstanceUID);
    if (stored.length === 0)
      throw new ClueInputError(
        'No map is stored for the displayed series: run the model on a slice or the series first.',
      );
    const order = new Map((displaySet.imageIds ?? []).map((id, index) => [id, index]));
    const slices = [...stored].sort((a, b) => (order.get(a.imageId) ?? 0) - (order.get(b.imageId) ?? 0));
    return { displaySet, slices };
  }

  function modelIdentity(): ModelIdentity {
    const { model } = store.getState();
    if (!model.modelId || !model.modelVersion || !model.sha256)
      throw new ClueInputError('The model is not loaded: run it once first.');
    return { id: model.modelId, version: model.modelVersion, sha256: model.sha256 };
  }

  function listGroundTruths(): GroundTruthOption[] {
    const candidates = listGroundTruthCandidates(services);
    setComparison({ candidates });
    return candidates;
  }

  /**
   * Loading a SEG gives the viewport the SEG's representation only; ours is put back (outline,
   * our colour) so the prediction and the ground truth are seen together, not merged.
   */
  function showPredictionWithGroundTruth(
    libraries: HostLibraries,
    viewportId: string | undefined,
    displaySet: HostDisplaySet,
  ): void {
    const id = resolveViewportId(services, viewportId);
    const ours = clueSegmentationId(displaySet.displaySetInstanceUID);
    // Already shown (the usual case), or removed by the user: nothing to do, no repaint.
    if (!services.segmentationService.getSegmentation(ours)) return;
    if (services.segmentationService.getSegmentationRepresentations(id, { segmentationId: ours }).length > 0) return;
    ensureClueLabelmap(services, libraries, id, displaySet)
      .then((segmentationId) => notifyLabelmapChanged(services, libraries, segmentationId, [id]))
      .catch((error) => console.warn('[clue] could not show our labelmap next to the ground truth', error));
  }

  function cancelComparison(): void {
    comparisonRun++;
    comparisonAbort?.abort();
    comparisonAbort = null;
  }

  async function compareWithGroundTruth(
    options: { segmentationId?: string; segmentIndex?: number | null; viewportId?: string } = {},
  ): Promise<void> {
    const run = ++comparisonRun;
    comparisonAbort?.abort();
    const abort = new AbortController();
    comparisonAbort = abort;
    try {
      const libraries = getHostLibraries(params.extensionManager);
      const candidates = listGroundTruths();
      const chosen =
        candidates.find((c) => c.segmentationId === options.segmentationId) ??
        (options.segmentationId ? undefined : candidates[0]);
      if (!chosen) {
        throw new ClueInputError(
          options.segmentationId
            ? `The ground truth "${options.segmentationId}" is not loaded in the viewer.`
            : "No ground truth is loaded: open the study's SEG (or draw a segmentation) first.",
        );
      }
      const segmentIndex = options.segmentIndex ?? null;
      const prepStarted = performance.now();
      const { displaySet, slices } = seriesMaps(options.viewportId);
      setComparison({
        status: 'computing',
        error: null,
        message: `Comparing ${slices.length} slice(s) with “${chosen.label}”…`,
      });
      const { masks, coveredSlices } = readGroundTruthMasks(
        services,
        libraries,
        chosen.segmentationId,
        segmentIndex,
        slices.map((s) => ({ imageId: s.imageId, pixelCount: s.map.length })),
      );
      const inputs: SliceInput[] = slices.map((slice, index) => {
        const instance = sourceInstance(libraries, slice.imageId);
        return {
          sopInstanceUID: instance.sopInstanceUID,
          ...(instance.frameNumber !== undefined ? { frameNumber: instance.frameNumber } : {}),
          map: slice.map,
          groundTruth: masks[index]!,
          imageScore: slice.score,
        };
      });
      const prepMs = performance.now() - prepStarted; // reading the masks: on the main thread
      const result = await runComparison(inputs, abort.signal);
      if (run !== comparisonRun) return;
      const segmentLabel =
        segmentIndex === null
          ? 'any segment'
          : (chosen.segments.find((s) => s.segmentIndex === segmentIndex)?.label ?? `segment ${segmentIndex}`);
      const groundTruthLabel = `${chosen.label} (${segmentLabel})`;
      const gtDisplaySet = services.displaySetService.getDisplaySetByUID(chosen.segmentationId);
      const first = sourceInstance(libraries, slices[0]!.imageId).attributes;
      let model: ModelIdentity | null = null;
      try {
        model = modelIdentity();
      } catch {
        model = null;
      }
      const context: ResultsContext | null = model
        ? {
            studyInstanceUID: String(first.StudyInstanceUID ?? ''),
            seriesInstanceUID: String(first.SeriesInstanceUID ?? ''),
            model,
            groundTruth: {
              label: groundTruthLabel,
              seriesInstanceUID: gtDisplaySet?.SeriesInstanceUID ?? null,
              sopInstanceUID: gtDisplaySet?.SOPInstanceUID ?? null,
            },
          }
        : null;
      showPredictionWithGroundTruth(libraries, options.viewportId, displaySet);
      // At the threshold of now, not of when Compare was pressed (the slider may have moved
      // while the worker sorted); set before the store changes, so the threshold listener
      // recognises these metrics as the ones on show.
      shown = atThreshold(result.prepared, context, store.getState().threshold);
      setComparison({
        status: 'done',
        error: null,
        segmentationId: chosen.segmentationId,
        segmentIndex,
        groundTruthLabel,
        displaySetInstanceUID: displaySet.displaySetInstanceUID,
        sliceImageIds: slices.map((s) => s.imageId),
        coveredSlices,
        metrics: shown.metrics,
        computeMs: Math.round(prepMs + result.mainThreadMs),
        ranInWorker: result.ranInWorker,
        message: `Compared ${slices.length} slice(s) with “${groundTruthLabel}” (${coveredSlices} slice(s) covered by the ground truth); Dice and IoU follow the threshold.`,
      });
    } catch (error) {
      if (run !== comparisonRun || (error instanceof DOMException && error.name === 'AbortError')) return;
      if (!(error instanceof ClueInputError)) console.error('[clue]', error);
      setComparison({ status: 'error', error: messageForUser(error), message: 'The comparison did not complete.' });
    }
  }

  function exportResults(options: { format: 'csv' | 'json' }): void {
    try {
      const record = shown?.record;
      if (!record) throw new ClueInputError('Nothing to export: compare with a ground truth first.');
      if (options?.format === 'csv') downloadFile(resultsFileName(record, 'csv'), resultsToCsv(record), 'text/csv');
      else if (options?.format === 'json')
        downloadFile(resultsFileName(record, 'json'), resultsToJson(record), 'application/json');
      else throw new ClueInputError(`Export format must be "csv" or "json", got ${String(options?.format)}.`);
      setComparison({ message: `Exported the results as ${options.format.toUpperCase()}.` });
    } catch (error) {
      setComparison({ error: messageForUser(error) });
    }
  }

  /** The SEG and Parametric Map of the displayed series' stored maps. dcmjs loads on first use. */
  async function buildDerived(viewportId: string | undefined, which: { seg: boolean; map: boolean }) {
    const libraries: HostLibraries = getHostLibraries(params.extensionManager);
    const { displaySet, slices } = seriesMaps(viewportId);
    const model = modelIdentity();
    const threshold = store.getState().threshold;
    const instances: SourceInstance[] = slices.map((s) => sourceInstance(libraries, s.imageId));
    if (instances.some((i) => i.frameNumber !== undefined)) {
      throw new ClueInputError(
        'Saving results of a multi-frame source as DICOM is not supported yet; export CSV/JSON instead.',
      );
    }
    const dicom = await import('./dicom');
    const source = dicom.sourceSeriesFromInstances(instances.map((i) => i.attributes));
    const files = [];
    if (which.seg) {
      const frames = slices.map((s) => {
        const mask = new Uint8Array(s.map.length);
        for (let i = 0; i < mask.length; i++) mask[i] = isAboveThreshold(s.map[i]!, threshold) ? 1 : 0;
        return mask;
      });
      files.push(dicom.buildSegmentation({ source, frames, model, threshold, seriesDescription: 'CLUE anomaly SEG' }));
    }
    if (which.map) {
      files.push(
        dicom.buildParametricMap({
          source,
          frames: slices.map((s) => s.map),
          model,
          threshold,
          seriesDescription: 'CLUE anomaly map',
        }),
      );
    }
    const first = source.images[0]!;
    const reopen = dicom.ohifReopenCheck(first.rows, first.columns, slices.length);
    // Only what was built, so a download of the SEG says nothing about the map.
    const cannotReopen = [which.seg ? reopen.seg : null, which.map ? reopen.parametricMap : null].filter(
      (r): r is string => r !== null,
    );
    return {
      files,
      sliceCount: slices.length,
      dicom,
      reopen,
      cannotReopen,
      partialMapNote:
        which.map && reopen.parametricMap === null
          ? partialMapNote(slices.length, displaySet.imageIds?.length ?? 0)
          : '',
    };
  }

  /**
   * OHIF 3.13's Parametric Map viewport fills its volume with the map's frames in file order
   * from the first slice, ignoring each frame's reference: a map of only some slices reopens
   * there on the wrong slices (the file itself is valid; other readers place frames by
   * reference). Said with every save of a partial map, so nobody is surprised later.
   */
  function partialMapNote(mapSlices: number, seriesSlices: number): string {
    if (seriesSlices === 0 || mapSlices >= seriesSlices) return '';
    return ` Note: the map covers ${mapSlices} of the series' ${seriesSlices} slices; OHIF 3.13 reopens a partial Parametric Map on the wrong slices — run the whole series before saving for a map that reopens in place.`;
  }

  async function download(kind: 'seg' | 'map', viewportId?: string): Promise<void> {
    const what = kind === 'seg' ? 'SEG' : 'Parametric Map';
    setSave({ status: 'working', error: null, message: `Building the ${what}…` });
    try {
      const {
        files,
        sliceCount,
        partialMapNote: note,
        cannotReopen,
      } = await buildDerived(viewportId, { seg: kind === 'seg', map: kind === 'map' });
      const file = files[0]!;
      downloadFile(
        `clue-${kind === 'seg' ? 'seg' : 'parametric-map'}-${file.seriesInstanceUID}.dcm`,
        file.data,
        'application/dicom',
      );
      setSave({
        status: 'done',
        message: `Downloaded the ${what} (${sliceCount} frame(s)).${cannotReopen.map((r) => ` ${r}.`).join('')}${note}`,
      });
    } catch (error) {
      if (!(error instanceof ClueInputError)) console.error('[clue]', error);
      setSave({
        status: 'error',
        error: `${what} not built: ${messageForUser(error)}`,
        message: 'The map is still in the viewer.',
      });
    }
  }

  async function storeToPacs(options: { viewportId?: string } = {}): Promise<void> {
    setSave({ ...INITIAL_SAVE, status: 'working', message: 'Building the SEG and Parametric Map…' });
    try {
      const target = stowTarget(params.extensionManager, services);
      const {
        files,
        dicom,
        partialMapNote: note,
        reopen,
        cannotReopen,
      } = await buildDerived(options.viewportId, { seg: true, map: true });
      // Said before the store, so nobody waits on a "Loading SEG…" that cannot end.
      const warning = cannotReopen.map((r) => ` ${r}.`).join('');
      setSave({ message: `Storing ${files.length} instance(s) to ${target.sourceName}…${warning}` });
      const studyInstanceUID = files[0]!.studyInstanceUID;
      let result;
      try {
        result = await dicom.stowRs(target.root, files, undefined, { studyInstanceUID, headers: target.headers });
      } catch (error) {
        throw new ClueInputError(
          `Store to PACS: no answer from ${target.root} (${error instanceof Error ? error.message : String(error)}); nothing was stored.`,
        );
      }
      const kindOf = (sopClassUID: string) => (sopClassUID === dicom.SEGMENTATION_STORAGE ? 'SEG' : 'Parametric Map');
      const stored = result.instances.filter((i) => i.status === 'stored');
      const failed = result.instances.filter((i) => i.status === 'failed');
      const storedList = stored.map((i) => ({
        sopInstanceUID: i.sopInstanceUID,
        sopClassUID: i.sopClassUID,
        seriesInstanceUID: files.find((f) => f.sopInstanceUID === i.sopInstanceUID)?.seriesInstanceUID ?? '',
      }));
      if (result.allStored) {
        const reopens = stored
          .map((i) => kindOf(i.sopClassUID))
          .filter((k) => (k === 'SEG' ? reopen.seg : reopen.parametricMap) === null);
        const reopenLine = reopens.length > 0 ? ` Reopen the study to see the ${reopens.join(' and ')}.` : '';
        setSave({
          status: 'done',
          error: null,
          stored: storedList,
          message: `Stored to ${target.sourceName}: ${stored.map((i) => kindOf(i.sopClassUID)).join(' and ')}.${reopenLine}${warning}${note}`,
        });
      } else {
        const failures = failed.map((i) => `${kindOf(i.sopClassUID)} failed (${i.reason ?? 'no reason given'})`);
        const successes = stored.map((i) => `${kindOf(i.sopClassUID)} stored`);
        setSave({
          status: 'error',
          stored: storedList,
          error: `Store to PACS incomplete (HTTP ${result.httpStatus}): ${[...failures, ...successes].join('; ')}.`,
          message: 'The map is still in the viewer: try again when the PACS accepts it.',
        });
      }
    } catch (error) {
      if (!(error instanceof ClueInputError)) console.error('[clue]', error);
      setSave({
        status: 'error',
        error: messageForUser(error),
        message: 'Nothing new was reported stored; the map is still in the viewer.',
      });
    }
  }

  return {
    listGroundTruths,
    compareWithGroundTruth,
    resultsRecord: () => shown?.record ?? null,
    exportResults,
    downloadSeg: (o) => download('seg', o?.viewportId),
    downloadParametricMap: (o) => download('map', o?.viewportId),
    storeToPacs,
    cancelComparison,
  };
}
