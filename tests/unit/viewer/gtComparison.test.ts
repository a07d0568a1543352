// The ground-truth comparison as the panel runs it: a series run on a fake host, a ground truth
// whose labelmaps cover only some slices (listed out of order, matched by referencedImageId),
// segment choice, and the numbers in the store equal to computeGroundTruthMetrics on the maps
// and masks built independently here. The metric definitions themselves are tested in
// tests/unit/metrics (hand-computed cases and models/ golden values).
import { describe, expect, it } from 'vitest';
import { createClueService } from '../../../extension/src/service/ClueService';
import { computeGroundTruthMetrics, resultsToCsv } from '../../../extension/src/metrics';
import { createClueStore } from '../../../extension/src/service/state';
import { fakeMap, fakeRegistry, FAKE_SHA256, gtHost } from './gtHost';

/** Segment 1 (“Lesion”) on the right half of slice 1's first rows, segment 2 elsewhere. */
function groundTruth(pixels: number, columns: number) {
  const slice1 = new Uint8Array(pixels);
  const slice2 = new Uint8Array(pixels);
  for (let i = 0; i < pixels; i++) {
    if (i % columns >= columns / 2 && i < pixels / 2) slice1[i] = 1;
    if (i % columns < 3) slice1[i] = 2;
    if (i % columns >= columns - 4) slice2[i] = 1;
  }
  return new Map([
    [2, slice2],
    [1, slice1],
  ]);
}

describe('ground-truth comparison in the panel', () => {
  it('lists only the host segmentations that are not ours', async () => {
    const host = gtHost();
    const store = createClueStore();
    const actions = createClueService(host.params, store, fakeRegistry());
    await actions.runOnSlice();
    expect(store.getState().status).toBe('done');
    expect(actions.listGroundTruths()).toEqual([]);
    host.addGroundTruth('seg-1', 'Lesion SEG', groundTruth(host.pixels, host.series.columns), {
      1: 'Lesion',
      2: 'Edema',
    });
    expect(actions.listGroundTruths()).toEqual([
      {
        segmentationId: 'seg-1',
        label: 'Lesion SEG',
        segments: [
          { segmentIndex: 1, label: 'Lesion' },
          { segmentIndex: 2, label: 'Edema' },
        ],
        source: 'host',
      },
    ]);
    expect(store.getState().comparison.candidates).toHaveLength(1);
  });

  it('compares the series with the chosen segment and matches an independent computation', async () => {
    const host = gtHost({ slices: 4 });
    const store = createClueStore();
    const actions = createClueService(host.params, store, fakeRegistry());
    await actions.runOnSeries();
    expect(store.getState().series.status).toBe('done');
    const labelmaps = groundTruth(host.pixels, host.series.columns);
    host.addGroundTruth('seg-1', 'Lesion SEG', labelmaps, { 1: 'Lesion', 2: 'Edema' });
    actions.setThreshold({ threshold: 0.4 });

    await actions.compareWithGroundTruth({ segmentationId: 'seg-1', segmentIndex: 1 });
    const comparison = store.getState().comparison;
    expect(comparison.error).toBeNull();
    expect(comparison.status).toBe('done');
    expect(comparison.coveredSlices).toBe(2);
    expect(comparison.sliceImageIds).toEqual(host.imageIds);

    const expected = computeGroundTruthMetrics(
      host.imageIds.map((_, k) => {
        const map = fakeMap(host.values(k));
        const labels = labelmaps.get(k);
        return {
          sopInstanceUID: String(host.series.instances[k]!.SOPInstanceUID),
          map,
          groundTruth: labels ? Uint8Array.from(labels, (v) => (v === 1 ? 1 : 0)) : new Uint8Array(host.pixels),
          imageScore: map.reduce((sum, v) => sum + v, 0) / map.length,
        };
      }),
      0.4,
    );
    expect(comparison.metrics).toEqual(expected);
    // Slice 1 has Lesion and Edema voxels: only Lesion counts as abnormal here.
    expect(comparison.metrics!.slices[1]!.groundTruthPixels).toBe(labelmaps.get(1)!.filter((v) => v === 1).length);
    expect(comparison.metrics!.slices.map((s) => s.imageLabel)).toEqual([false, true, true, false]);

    // Any non-zero voxel: the Edema voxels count too.
    await actions.compareWithGroundTruth({ segmentationId: 'seg-1', segmentIndex: null });
    expect(store.getState().comparison.metrics!.slices[1]!.groundTruthPixels).toBe(
      labelmaps.get(1)!.filter((v) => v !== 0).length,
    );
    expect(store.getState().comparison.groundTruthLabel).toBe('Lesion SEG (any segment)');
  });

  it('a SEG the viewer has not loaded is read from its file (dcmjs) and gives the same numbers', async () => {
    const host = gtHost({ slices: 4, rows: 17, columns: 19 }); // 323 pixels: frames are not whole bytes
    const store = createClueStore();
    const actions = createClueService(host.params, store, fakeRegistry());
    await actions.runOnSeries();
    const lesion = new Map(
      [...groundTruth(host.pixels, host.series.columns)].map(([k, m]) => [
        k,
        Uint8Array.from(m, (v) => (v === 1 ? 1 : 0)),
      ]),
    );
    host.addGroundTruthFile('seg-file', 'Lesion SEG', lesion);
    const listed = actions.listGroundTruths();
    expect(listed).toEqual([
      {
        segmentationId: 'seg-file',
        label: 'Lesion SEG (not loaded: read from the file)',
        segments: [{ segmentIndex: 1, label: 'Lesion' }],
        source: 'file',
      },
    ]);
    await actions.compareWithGroundTruth({ segmentationId: 'seg-file', segmentIndex: 1 });
    const comparison = store.getState().comparison;
    expect(comparison.error).toBeNull();
    expect(host.fileReads()).toBe(1);
    expect(comparison.coveredSlices).toBe(4); // our writer stores a frame for every slice
    const expected = computeGroundTruthMetrics(
      host.imageIds.map((_, k) => {
        const map = fakeMap(host.values(k));
        return {
          sopInstanceUID: String(host.series.instances[k]!.SOPInstanceUID),
          map,
          groundTruth: lesion.get(k) ?? new Uint8Array(host.pixels),
          imageScore: map.reduce((sum, v) => sum + v, 0) / map.length,
        };
      }),
      store.getState().threshold,
    );
    expect(comparison.metrics).toEqual(expected);
    expect(comparison.metrics!.series!.groundTruthPixels).toBeGreaterThan(0);
  });

  it('a SEG file that cannot be fetched is a message in the panel, not a crash', async () => {
    const host = gtHost({ slices: 2 });
    const store = createClueStore();
    const actions = createClueService(host.params, store, fakeRegistry());
    await actions.runOnSeries();
    host.addGroundTruthFile('seg-file', 'Lesion SEG', new Map(), { fetchable: false });
    await actions.compareWithGroundTruth({ segmentationId: 'seg-file', segmentIndex: null });
    expect(store.getState().comparison.status).toBe('error');
    expect(store.getState().comparison.error).toMatch(/could not be fetched: HTTP 404/);
  });

  it('builds the export record with the UIDs, model sha256, threshold and ground truth', async () => {
    const host = gtHost({ slices: 3 });
    const store = createClueStore();
    const actions = createClueService(host.params, store, fakeRegistry());
    await actions.runOnSeries();
    host.addGroundTruth('seg-1', 'Lesion SEG', groundTruth(host.pixels, host.series.columns), { 1: 'Lesion' });
    await actions.compareWithGroundTruth({ segmentationId: 'seg-1', segmentIndex: 1 });
    const record = actions.resultsRecord()!;
    const first = host.series.instances[0]!;
    expect(record.studyInstanceUID).toBe(first.StudyInstanceUID);
    expect(record.seriesInstanceUID).toBe(first.SeriesInstanceUID);
    expect(record.model).toEqual({ id: 'fake-model', version: '1.0', sha256: FAKE_SHA256 });
    expect(record.threshold).toBe(store.getState().threshold);
    expect(record.groundTruth).toEqual({
      label: 'Lesion SEG (Lesion)',
      seriesInstanceUID: 'series-of-seg-1',
      sopInstanceUID: 'sop-of-seg-1',
    });
    expect(record.slices.map((s) => s.sopInstanceUID)).toEqual(host.series.instances.map((i) => i.SOPInstanceUID));
    expect(resultsToCsv(record).trim().split('\r\n')).toHaveLength(1 + 3 + 1);
  });

  it('says what is wrong instead of comparing: no map, no ground truth, a labelmap off the grid', async () => {
    const host = gtHost({ slices: 2 });
    const store = createClueStore();
    const actions = createClueService(host.params, store, fakeRegistry());
    host.addGroundTruth('seg-1', 'Lesion SEG', new Map([[0, new Uint8Array(host.pixels)]]), { 1: 'Lesion' });
    await actions.compareWithGroundTruth({ segmentationId: 'seg-1' });
    expect(store.getState().comparison.status).toBe('error');
    expect(store.getState().comparison.error).toMatch(/No map is stored/);

    await actions.runOnSlice();
    await actions.compareWithGroundTruth({ segmentationId: 'gone' });
    expect(store.getState().comparison.error).toMatch(/"gone" is not loaded/);

    host.addGroundTruth('seg-small', 'Other grid', new Map([[0, new Uint8Array(10)]]), { 1: 'Lesion' });
    await actions.compareWithGroundTruth({ segmentationId: 'seg-small' });
    expect(store.getState().comparison.error).toMatch(/not on the image's grid/);
    // The map is still there: a valid comparison right after works.
    await actions.compareWithGroundTruth({ segmentationId: 'seg-1' });
    expect(store.getState().comparison.status).toBe('done');
    expect(store.getState().displayedResult).not.toBeNull();
  });
});
