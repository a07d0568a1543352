// "Back to the PACS": the displayed series' stored maps as a DICOM SEG (at the threshold) and
// a Parametric Map (raw values), downloaded or sent by STOW-RS to the study's data source.
// Failures are messages in the panel; the maps stay in the viewer for another try.
import { ClueInputError, messageForUser } from '../errors';
import type { ModelIdentity } from '../modelIdentity';
import { downloadFile } from '../results/download';
import type { StoredResult } from '../results/resultCache';
import { isAboveThreshold, type ClueHost } from '../viewer/host';
import { seriesMaps } from './comparison';
import { INITIAL_SAVE, type ClueStore, type SaveState } from './state';

type DicomModule = typeof import('../dicom');

/** What one build produced, and what the host (OHIF 3.13) will and will not reopen of it. */
interface Derived {
  files: ReturnType<DicomModule['buildSegmentation']>[];
  sliceCount: number;
  dicom: DicomModule;
  reopen: ReturnType<DicomModule['ohifReopenCheck']>;
  /** Why what was built will not reopen in the host, one sentence each (empty: it will). */
  cannotReopen: string[];
  partialMapNote: string;
}

export class ResultSaver {
  constructor(
    private readonly host: ClueHost,
    private readonly state: ClueStore,
    private readonly stored: (displaySetInstanceUID: string) => StoredResult[],
    private readonly modelIdentity: () => ModelIdentity,
  ) {}

  async download(kind: 'seg' | 'map', viewportId?: string): Promise<void> {
    const what = kind === 'seg' ? 'SEG' : 'Parametric Map';
    this.set({ status: 'working', error: null, message: `Building the ${what}…` });
    try {
      const built = await this.build(viewportId, { seg: kind === 'seg', map: kind === 'map' });
      const file = built.files[0]!;
      const name = `clue-${kind === 'seg' ? 'seg' : 'parametric-map'}-${file.seriesInstanceUID}.dcm`;
      downloadFile(name, file.data, 'application/dicom');
      this.set({
        status: 'done',
        message: `Downloaded the ${what} (${built.sliceCount} frame(s)).${sentences(built.cannotReopen)}${built.partialMapNote}`,
      });
    } catch (error) {
      if (!(error instanceof ClueInputError)) console.error('[clue]', error);
      this.set({
        status: 'error',
        error: `${what} not built: ${messageForUser(error)}`,
        message: 'The map is still in the viewer.',
      });
    }
  }

  async storeToPacs(viewportId?: string): Promise<void> {
    this.set({ ...INITIAL_SAVE, status: 'working', message: 'Building the SEG and Parametric Map…' });
    try {
      const target = this.host.stowTarget();
      const built = await this.build(viewportId, { seg: true, map: true });
      // Said before the store, so nobody waits on a "Loading SEG…" that cannot end.
      const warning = sentences(built.cannotReopen);
      this.set({ message: `Storing ${built.files.length} instance(s) to ${target.sourceName}…${warning}` });
      let result;
      try {
        result = await built.dicom.stowRs(target.root, built.files, undefined, {
          studyInstanceUID: built.files[0]!.studyInstanceUID,
          headers: target.headers,
        });
      } catch (error) {
        throw new ClueInputError(
          `Store to PACS: no answer from ${target.root} (${error instanceof Error ? error.message : String(error)}); nothing was stored.`,
        );
      }
      this.reportStored(built, result, target.sourceName, warning);
    } catch (error) {
      if (!(error instanceof ClueInputError)) console.error('[clue]', error);
      this.set({
        status: 'error',
        error: messageForUser(error),
        message: 'Nothing new was reported stored; the map is still in the viewer.',
      });
    }
  }

  private reportStored(
    built: Derived,
    result: Awaited<ReturnType<DicomModule['stowRs']>>,
    sourceName: string,
    warning: string,
  ): void {
    const kindOf = (sopClassUID: string) =>
      sopClassUID === built.dicom.SEGMENTATION_STORAGE ? 'SEG' : 'Parametric Map';
    const storedNow = result.instances.filter((i) => i.status === 'stored');
    const failed = result.instances.filter((i) => i.status === 'failed');
    const stored = storedNow.map((i) => ({
      sopInstanceUID: i.sopInstanceUID,
      sopClassUID: i.sopClassUID,
      seriesInstanceUID: built.files.find((f) => f.sopInstanceUID === i.sopInstanceUID)?.seriesInstanceUID ?? '',
    }));
    if (result.allStored) {
      const reopens = storedNow
        .map((i) => kindOf(i.sopClassUID))
        .filter((k) => (k === 'SEG' ? built.reopen.seg : built.reopen.parametricMap) === null);
      const reopenLine = reopens.length > 0 ? ` Reopen the study to see the ${reopens.join(' and ')}.` : '';
      this.set({
        status: 'done',
        error: null,
        stored,
        message: `Stored to ${sourceName}: ${storedNow.map((i) => kindOf(i.sopClassUID)).join(' and ')}.${reopenLine}${warning}${built.partialMapNote}`,
      });
      return;
    }
    const failures = failed.map((i) => `${kindOf(i.sopClassUID)} failed (${i.reason ?? 'no reason given'})`);
    const successes = storedNow.map((i) => `${kindOf(i.sopClassUID)} stored`);
    this.set({
      status: 'error',
      stored,
      error: `Store to PACS incomplete (HTTP ${result.httpStatus}): ${[...failures, ...successes].join('; ')}.`,
      message: 'The map is still in the viewer: try again when the PACS accepts it.',
    });
  }

  /** The SEG and Parametric Map of the displayed series' stored maps. dcmjs loads on first use. */
  private async build(viewportId: string | undefined, which: { seg: boolean; map: boolean }): Promise<Derived> {
    const { slices, seriesSize } = seriesMaps(this.host, this.stored, viewportId);
    const model = this.modelIdentity();
    const threshold = this.state.getState().threshold;
    const instances = slices.map((s) => this.host.sourceInstance(s.imageId));
    if (instances.some((i) => i.frameNumber !== undefined)) {
      throw new ClueInputError(
        'Saving results of a multi-frame source as DICOM is not supported yet; export CSV/JSON instead.',
      );
    }
    const dicom = await import('../dicom');
    const source = dicom.sourceSeriesFromInstances(instances.map((i) => i.attributes));
    const files = [];
    if (which.seg) {
      const frames = slices.map((s) => Uint8Array.from(s.map, (v) => (isAboveThreshold(v, threshold) ? 1 : 0)));
      files.push(dicom.buildSegmentation({ source, frames, model, threshold, seriesDescription: 'CLUE anomaly SEG' }));
    }
    if (which.map) {
      const frames = slices.map((s) => s.map);
      files.push(dicom.buildParametricMap({ source, frames, model, threshold, seriesDescription: 'CLUE anomaly map' }));
    }
    const first = source.images[0]!;
    const reopen = dicom.ohifReopenCheck(first.rows, first.columns, slices.length);
    // Only what was built, so a download of the SEG says nothing about the map.
    const cannotReopen = [which.seg ? reopen.seg : null, which.map ? reopen.parametricMap : null].filter(
      (r): r is string => r !== null,
    );
    const note = which.map && reopen.parametricMap === null ? partialMapNote(slices.length, seriesSize) : '';
    return { files, sliceCount: slices.length, dicom, reopen, cannotReopen, partialMapNote: note };
  }

  private set(update: Partial<SaveState>): void {
    this.state.setState((s) => ({ save: { ...s.save, ...update } }));
  }
}

const sentences = (list: string[]) => list.map((r) => ` ${r}.`).join('');

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
