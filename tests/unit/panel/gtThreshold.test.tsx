// Issue 6: after a ground-truth comparison, Dice / IoU follow the threshold slider. On a fake
// host (tests/unit/viewer/gtHost.ts) with real commands: a series run, a partial ground truth,
// Compare, then threshold moves. The store, the panel and the export must carry the numbers of
// a fresh full computation at the new threshold, with pixel counts equal to the labelmap the
// viewer drew (ties exactly at the threshold included), and a burst of moves must end on the
// last one's numbers with nothing left pending.
import { describe, expect, it } from 'vitest';
import { createClueService } from '../../../extension/src/service/ClueService';
import type { IdleScheduler } from '../../../extension/src/service/labelmapSync';
import { computeGroundTruthMetrics, CSV_COLUMNS, resultsToCsv, type SliceInput } from '../../../extension/src/metrics';
import { createClueStore } from '../../../extension/src/service/state';
import { fakeMap, fakeRegistry, gtHost, type GtHost } from '../viewer/gtHost';
import { renderPanel } from './renderPanel';

const cell = (html: string, testid: string) =>
  new RegExp(`data-testid="${testid}"[^>]*>([^<]*)<`).exec(html)?.[1] ?? null;
const attribute = (html: string, testid: string, name: string) =>
  new RegExp(`data-testid="${testid}"[^>]*\\b${name}="([^"]*)"`).exec(html)?.[1] ?? null;

/** The fake model maps slice k to (column·2 + 5k)/40 in float32: long runs of tied values. */
function lesion(host: GtHost): Map<number, Uint8Array> {
  const { columns } = host.series;
  const slice1 = new Uint8Array(host.pixels);
  const slice2 = new Uint8Array(host.pixels);
  for (let i = 0; i < host.pixels; i++) {
    if (i % columns >= columns / 2 && i < host.pixels / 2) slice1[i] = 1;
    if (i % columns >= columns - 4) slice2[i] = 1;
  }
  return new Map([
    [1, slice1],
    [2, slice2],
  ]);
}

/** What the comparison should see, built here from the host's source values (not the store). */
function inputsOf(host: GtHost, truth: Map<number, Uint8Array>): SliceInput[] {
  return host.imageIds.map((_, k) => {
    const map = fakeMap(host.values(k));
    return {
      sopInstanceUID: String(host.series.instances[k]!.SOPInstanceUID),
      map,
      groundTruth: truth.get(k) ?? new Uint8Array(host.pixels),
      imageScore: map.reduce((sum, v) => sum + v, 0) / map.length,
    };
  });
}

/** Pooled Dice / IoU by one plain loop, predicted = map ≥ float32(threshold) as the labelmap draws it. */
function bruteForce(inputs: SliceInput[], threshold: number) {
  const t = Math.fround(threshold);
  let tp = 0;
  let predicted = 0;
  let truth = 0;
  for (const { map, groundTruth } of inputs) {
    for (let i = 0; i < map.length; i++) {
      const p = map[i]! >= t;
      if (p) predicted++;
      if (groundTruth[i]) truth++;
      if (p && groundTruth[i]) tp++;
    }
  }
  return { dice: (2 * tp) / (predicted + truth), iou: tp / (predicted + truth - tp), predicted };
}

async function compared() {
  const host = gtHost({ slices: 4 });
  const store = createClueStore();
  const tasks: Array<() => void> = [];
  const schedule: IdleScheduler = (task) => void tasks.push(task);
  const drainIdle = () => {
    while (tasks.length) tasks.shift()!();
  };
  const actions = createClueService(host.params, store, fakeRegistry(), schedule);
  await actions.runOnSeries();
  drainIdle();
  const truth = lesion(host);
  host.addGroundTruth('seg-1', 'Lesion SEG', truth, { 1: 'Lesion' });
  await actions.compareWithGroundTruth({ segmentationId: 'seg-1', segmentIndex: 1 });
  expect(store.getState().comparison.status).toBe('done');
  /** Voxels of our labelmap on each slice, read back from the host's labelmap images. */
  const labelmapVoxels = () => {
    const libraries = (host.params.extensionManager as any).getModuleEntry().exports.getCornerstoneLibraries();
    const segmentationId = store.getState().lastResult!.segmentationId;
    return host.imageIds.map((id) => {
      const data = libraries.cornerstone.cache
        .getImage(`lm:${segmentationId}:${id}`)
        .voxelManager.getScalarData() as Uint8Array;
      return data.reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
    });
  };
  return { host, store, actions, inputs: inputsOf(host, truth), drainIdle, labelmapVoxels };
}

describe('ground-truth comparison follows the threshold', () => {
  it('after a move, store, labelmap, panel and export all hold a fresh computation at the new threshold (ties at it included)', async () => {
    const { store, actions, inputs, drainIdle, labelmapVoxels } = await compared();
    expect(store.getState().comparison.metrics!.threshold).toBe(0.5);

    // 0.35 is a tie: float32(0.35) < 0.35, and 14/40 in float32 is that very value, on many pixels.
    const t = 0.35;
    const atTie = inputs.reduce((n, s) => n + Array.from(s.map).filter((v) => v === Math.fround(t)).length, 0);
    expect(Math.fround(t)).toBeLessThan(t);
    expect(atTie).toBeGreaterThan(0);

    actions.setThreshold({ threshold: t });
    drainIdle(); // the off-screen labelmaps are re-thresholded in idle time
    const fresh = computeGroundTruthMetrics(inputs, t);
    const metrics = store.getState().comparison.metrics!;
    expect(metrics).toEqual(fresh);
    expect(metrics.threshold).toBe(t);

    // Pixel counts: those of the labelmap the viewer drew, slice by slice and pooled.
    expect(metrics.slices.map((s) => s.predictedPixels)).toEqual(labelmapVoxels());
    const independent = bruteForce(inputs, t);
    expect(metrics.series!.predictedPixels).toBe(independent.predicted);
    expect(metrics.series!.dice).toBeCloseTo(independent.dice, 14);
    expect(metrics.series!.iou).toBeCloseTo(independent.iou, 14);
    // Per slice, against the same plain loop (not only against computeGroundTruthMetrics).
    inputs.forEach((input, k) => {
      const perSlice = bruteForce([input], t);
      expect(metrics.slices[k]!.predictedPixels).toBe(perSlice.predicted);
      expect(metrics.slices[k]!.dice).toBeCloseTo(perSlice.dice, 14);
      expect(metrics.slices[k]!.iou).toBeCloseTo(perSlice.iou, 14);
    });
    // Comparing with the raw double 0.35 would have missed the tied pixels.
    expect(inputs.reduce((n, s) => n + Array.from(s.map).filter((v) => v >= t).length, 0)).toBe(
      independent.predicted - atTie,
    );

    // Threshold-free numbers are untouched by the move.
    const before = computeGroundTruthMetrics(inputs, 0.5).series!;
    expect(metrics.series).toMatchObject({
      pixelAuroc: before.pixelAuroc,
      bestDice: before.bestDice,
      imageAuroc: before.imageAuroc,
      roc: before.roc,
      diceCurve: before.diceCurve,
    });

    // The panel: no stale note; Dice / IoU and the marker at the current threshold.
    const html = renderPanel(store);
    expect(html).not.toContain('clue-gt-stale');
    expect(cell(html, 'clue-gt-dice-header')).toBe('Dice @ 0.35');
    expect(cell(html, 'clue-gt-series-dice')).toBe(fresh.series!.dice.toFixed(3));
    expect(cell(html, 'clue-gt-series-iou')).toBe(fresh.series!.iou.toFixed(3));
    expect(cell(html, 'clue-gt-slice-dice')).toBe(fresh.slices[0]!.dice.toFixed(3)); // slice 0 is displayed
    expect(Number(attribute(html, 'clue-gt-dice-marker', 'data-threshold'))).toBe(t);
    expect(Number(attribute(html, 'clue-gt-dice-marker', 'data-dice'))).toBe(fresh.series!.dice);

    // The export: the numbers at 0.35, with 0.35.
    const record = actions.resultsRecord()!;
    expect(record.threshold).toBe(t);
    expect(record.series).toEqual(fresh.series);
    expect(record.slices).toEqual(fresh.slices);
    const lines = resultsToCsv(record).trim().split('\r\n');
    const series = lines[lines.length - 1]!.split(',');
    expect(series[CSV_COLUMNS.indexOf('scope')]).toBe('series');
    expect(series[CSV_COLUMNS.indexOf('threshold')]).toBe('0.35');
    expect(Number(series[CSV_COLUMNS.indexOf('dice')])).toBe(fresh.series!.dice);
    expect(Number(series[CSV_COLUMNS.indexOf('predicted_pixels')])).toBe(independent.predicted);
  });

  it("a burst of moves ends, synchronously, on the last one's numbers", async () => {
    const { store, actions, inputs } = await compared();
    const seen: number[] = [];
    const stop = store.subscribe(() => {
      const m = store.getState().comparison.metrics;
      if (m && seen[seen.length - 1] !== m.threshold) seen.push(m.threshold);
    });
    for (const threshold of [0.2, 0.8, 0.35, 0.05, 0.95, 0.6]) actions.setThreshold({ threshold });
    stop();
    // Every move was answered before the next (nothing queued), and no await was needed.
    expect(seen).toEqual([0.2, 0.8, 0.35, 0.05, 0.95, 0.6]);
    expect(store.getState().comparison.metrics).toEqual(computeGroundTruthMetrics(inputs, 0.6));
    expect(actions.resultsRecord()!.series).toEqual(computeGroundTruthMetrics(inputs, 0.6).series);
  });

  it('a move while Compare is computing: the result arrives at the current threshold', async () => {
    const { store, actions, inputs } = await compared();
    const pending = actions.compareWithGroundTruth({ segmentationId: 'seg-1', segmentIndex: 1 });
    actions.setThreshold({ threshold: 0.7 });
    await pending;
    expect(store.getState().comparison.status).toBe('done');
    expect(store.getState().comparison.metrics).toEqual(computeGroundTruthMetrics(inputs, 0.7));
    expect(actions.resultsRecord()!.threshold).toBe(0.7);
  });

  it('Clear while Compare is computing: the result is dropped when it arrives', async () => {
    const { store, actions } = await compared();
    const pending = actions.compareWithGroundTruth({ segmentationId: 'seg-1', segmentIndex: 1 });
    expect(store.getState().comparison.status).toBe('computing');
    actions.clear();
    await pending;
    expect(store.getState().comparison.status).toBe('idle');
    expect(store.getState().comparison.metrics).toBeNull();
    expect(actions.resultsRecord()).toBeNull();
  });

  it('Clear lets the comparison go: later moves neither bring it back nor export it', async () => {
    const { store, actions } = await compared();
    actions.clear();
    actions.setThreshold({ threshold: 0.3 });
    expect(store.getState().comparison.metrics).toBeNull();
    expect(actions.resultsRecord()).toBeNull();
  });
});
