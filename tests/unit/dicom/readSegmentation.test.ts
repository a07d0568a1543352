// Our own SEG reader (dicom/readSegmentation.ts), for comparisons the host's SEG loader cannot
// serve: on the demo's ground-truth SEG written by highdicom (Python), against the lesion pixel
// count the generator recorded from its own mask; on SEGs of sizes whose 1-bit frames are not
// whole bytes; and on files it must refuse, with the reason.
import { existsSync, readFileSync } from 'node:fs';
import dcmjs from 'dcmjs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import {
  buildSegmentation,
  readSegmentation,
  segmentationMasks,
  SegmentationReadError,
  sourceSeriesFromInstances,
} from '../../../extension/src/dicom';
import { fakeMrSeries } from './fakeSeries';

const SKIP_ALLOWED = !process.env.CI;
const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
const DEMO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../data/generated/demo');
const haveDemo = existsSync(path.join(DEMO, '.complete'));
if (!haveDemo && SKIP_ALLOWED) console.warn('demo SEG reading test skipped: no data/generated/demo');

const MODEL = { id: 'clue-demo-t1-axial', version: '0.1.0', sha256: '0123456789abcdef'.repeat(4) };

const bufferOf = (file: string) => {
  const bytes = readFileSync(file);
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
};

describe('reading a ground-truth SEG ourselves', () => {
  it.skipIf(!haveDemo && SKIP_ALLOWED)(
    'the demo SEG (highdicom): the lesion slice has the pixels the generator counted',
    () => {
      const index = JSON.parse(readFileSync(path.join(DEMO, 'index.json'), 'utf8'));
      const series = index.studies.find((s: { lesion: boolean }) => s.lesion).series[0];
      const seg = readSegmentation(bufferOf(path.join(DEMO, series.seg.path)));
      expect(seg.segments.map((s) => s.label)).toEqual(series.seg.segments.map((s: { label: string }) => s.label));
      const best = series.lesion.best;
      const pixelCount = series.rows * series.columns;
      const lesion = segmentationMasks(seg, [{ sopInstanceUID: best.sop_instance_uid, pixelCount }], 1);
      expect(lesion.coveredSlices).toBe(1);
      expect(lesion.masks[0]!.reduce((n, v) => n + v, 0)).toBe(best.lesion_pixels);
      // A slice far from the lesion: no frame references it, so its mask is empty.
      const far = segmentationMasks(seg, [{ sopInstanceUID: 'not-in-the-seg', pixelCount }], null);
      expect(far.coveredSlices).toBe(0);
      expect(far.masks[0]!.every((v) => v === 0)).toBe(true);
    },
  );

  it.each([
    [12, 16],
    [33, 35],
    [13, 7],
  ])(
    'a %i×%i SEG of 3 frames (frames not whole bytes when rows·columns is odd) reads back exactly',
    (rows, columns) => {
      const fake = fakeMrSeries({ slices: 3, rows, columns });
      const source = sourceSeriesFromInstances(fake.instances);
      const pixels = rows * columns;
      const frames = source.images.map((_, k) =>
        Uint8Array.from({ length: pixels }, (_, i) => ((i * 7 + k * 3) % 5 === 0 ? 1 : 0)),
      );
      const file = buildSegmentation({ source, frames, model: MODEL, threshold: 0.5 });
      const seg = readSegmentation(file.data);
      expect([seg.rows, seg.columns]).toEqual([rows, columns]);
      const images = source.images.map((image) => ({ sopInstanceUID: image.sopInstanceUID, pixelCount: pixels }));
      const { masks, coveredSlices } = segmentationMasks(seg, images, null);
      expect(coveredSlices).toBe(3);
      masks.forEach((mask, k) => expect(Array.from(mask)).toEqual(Array.from(frames[k]!)));
    },
  );

  it('finds a segment identification the frames share in the shared functional groups (as highdicom writes one segment)', () => {
    const source = sourceSeriesFromInstances(fakeMrSeries({ slices: 2, rows: 9, columns: 11 }).instances);
    const frames = source.images.map((_, k) => Uint8Array.from({ length: 99 }, (_, i) => (i % (k + 2) === 0 ? 1 : 0)));
    const file = buildSegmentation({ source, frames, model: MODEL, threshold: 0.5 });
    const dict = DicomMessage.readFile(file.data);
    const ds = DicomMetaDictionary.naturalizeDataset(dict.dict) as Record<string, any>;
    const segmentIdentification = ds.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence;
    expect(segmentIdentification).toBeDefined();
    for (const group of ds.PerFrameFunctionalGroupsSequence) delete group.SegmentIdentificationSequence;
    ds.SharedFunctionalGroupsSequence = [
      { ...ds.SharedFunctionalGroupsSequence[0], SegmentIdentificationSequence: segmentIdentification },
    ];
    dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
    const seg = readSegmentation(dict.write());
    expect(seg.frames.map((f) => f.segmentNumber)).toEqual([1, 1]);
    const images = source.images.map((image) => ({ sopInstanceUID: image.sopInstanceUID, pixelCount: 99 }));
    const { masks } = segmentationMasks(seg, images, 1);
    masks.forEach((mask, k) => expect(Array.from(mask)).toEqual(Array.from(frames[k]!)));
  });

  it('a frame reference without a frame number covers every frame of its source (PS3.3 C.7.6.16.2.6)', () => {
    const source = sourceSeriesFromInstances(fakeMrSeries({ slices: 1, rows: 4, columns: 4 }).instances);
    const frame = Uint8Array.from({ length: 16 }, (_, i) => (i < 5 ? 1 : 0));
    const seg = readSegmentation(buildSegmentation({ source, frames: [frame], model: MODEL, threshold: 0.5 }).data);
    expect(seg.frames[0]!.frameNumber).toBeUndefined();
    const sop = source.images[0]!.sopInstanceUID;
    const { masks, coveredSlices } = segmentationMasks(
      seg,
      [
        { sopInstanceUID: sop, frameNumber: 1, pixelCount: 16 },
        { sopInstanceUID: sop, frameNumber: 3, pixelCount: 16 },
      ],
      null,
    );
    expect(coveredSlices).toBe(2);
    masks.forEach((mask) => expect(Array.from(mask)).toEqual(Array.from(frame)));
  });

  it('refuses what it cannot read, saying why', () => {
    const fake = fakeMrSeries({ slices: 1 });
    expect(() => readSegmentation(fake.files[0]!.data)).toThrow(SegmentationReadError);
    expect(() => readSegmentation(fake.files[0]!.data)).toThrow(
      /SOP class is 1\.2\.840\.10008\.5\.1\.4\.1\.1\.4, not SEG/,
    );
    expect(() => readSegmentation(new ArrayBuffer(16))).toThrow(/not a readable DICOM file/);
    const source = sourceSeriesFromInstances(fakeMrSeries({ slices: 2, rows: 8, columns: 8 }).instances);
    const file = buildSegmentation({
      source,
      frames: source.images.map(() => new Uint8Array(64).fill(1)),
      model: MODEL,
      threshold: 0.5,
    });
    const seg = readSegmentation(file.data);
    const wrongGrid = [{ sopInstanceUID: source.images[0]!.sopInstanceUID, pixelCount: 100 }];
    expect(() => segmentationMasks(seg, wrongGrid, null)).toThrow(/8×8 on an image whose map has 100 pixels/);
  });
});
