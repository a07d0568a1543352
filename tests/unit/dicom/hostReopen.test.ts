// ohifReopenCheck against the host's own code: the SEG verdict is checked by reading our SEG with
// dcmjs' AsyncDicomReader (the reader the OHIF 3.13.2 bundle uses; same dcmjs 0.51 code) and
// comparing every frame it delivers with the mask stored, the
// Parametric Map verdict against the adapter's frame view, whose expression must still be in the
// unpacked host bundle when setup has put it in .cache/.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';
import {
  buildParametricMap,
  buildSegmentation,
  ohifReopenCheck,
  sourceSeriesFromInstances,
} from '../../../extension/src/dicom';
import { fakeMrSeries } from './fakeSeries';

const MODEL = { id: 'clue-demo-t1-axial', version: '0.1.0', sha256: '0123456789abcdef'.repeat(4) };
const SIZES: [number, number, number][] = [
  [197, 233, 1],
  [197, 233, 2],
  [197, 233, 3],
  [189, 197, 3],
  [152, 192, 3],
  [12, 16, 4],
  [5, 7, 2],
  [6, 6, 3],
  [7, 9, 4],
  [8, 9, 3],
];

type Reader = {
  stream: { addBuffer(b: ArrayBuffer): void; setComplete(): void };
  readFile(): Promise<unknown>;
  dict: Record<string, { Value: (ArrayBuffer | ArrayBuffer[])[] }>;
};

/** null when the host's reader gives back every frame as stored (1 bit, LSB first); else why not. */
async function hostReads(data: ArrayBuffer, masks: Uint8Array[]): Promise<string | null> {
  const reader = new (dcmjs as unknown as { async: { AsyncDicomReader: new () => Reader } }).async.AsyncDicomReader();
  reader.stream.addBuffer(data);
  reader.stream.setComplete();
  try {
    await reader.readFile();
  } catch (error) {
    return String(error);
  }
  const values = reader.dict['7FE00010']!.Value;
  if (values.length !== masks.length) return `${values.length} frame value(s) for ${masks.length} frames`;
  for (let k = 0; k < masks.length; k++) {
    const value = values[k]!;
    const bytes = new Uint8Array(Array.isArray(value) ? value[0]! : value);
    for (let i = 0; i < masks[k]!.length; i++) {
      if (((bytes[i >>> 3]! >> (i & 7)) & 1) !== masks[k]![i]) return `frame ${k + 1} differs at pixel ${i}`;
    }
  }
  return null;
}

describe('ohifReopenCheck', () => {
  it.each(SIZES)('SEG of %i×%i, %i frame(s): the verdict is what the host reader does', async (rows, columns, n) => {
    const series = fakeMrSeries({ slices: n, rows, columns });
    const source = sourceSeriesFromInstances(series.instances);
    const masks = Array.from({ length: n }, (_, k) => {
      const m = new Uint8Array(rows * columns);
      m[(k * 7 + 1) % m.length] = 1;
      m[(k * 13 + 20) % m.length] = 1;
      return m;
    });
    const seg = buildSegmentation({ source, frames: masks, model: MODEL, threshold: 0.5 });
    const failure = await hostReads(seg.data, masks);
    const verdict = ohifReopenCheck(rows, columns, n).seg;
    expect(verdict === null, `${rows}×${columns}×${n}: reader said ${failure}, check said ${verdict}`).toBe(
      failure === null,
    );
  });

  it.each(SIZES)(
    "Parametric Map of %i×%i, %i frame(s): the verdict is what the adapter's frame view does",
    (rows, columns, n) => {
      const series = fakeMrSeries({ slices: n, rows, columns });
      const source = sourceSeriesFromInstances(series.instances);
      const frames = Array.from({ length: n }, () => new Float32Array(rows * columns).fill(0.25));
      const map = buildParametricMap({ source, frames, model: MODEL, threshold: 0.5 });
      const { DicomMessage, DicomMetaDictionary } = dcmjs.data;
      const dataset = DicomMetaDictionary.naturalizeDataset(DicomMessage.readFile(map.data).dict) as {
        FloatPixelData: ArrayBuffer[];
      };
      const pixels = new Float32Array(dataset.FloatPixelData[0]!);
      let failure: string | null = null;
      const sliceLength = rows * columns;
      try {
        // The adapter's view of frame i (a byte offset of i·rows·columns), as in the host bundle.
        for (let i = 0; i < n; i++) new Float32Array(pixels.buffer, i * sliceLength, sliceLength);
      } catch (error) {
        failure = String(error);
      }
      expect(ohifReopenCheck(rows, columns, n).parametricMap === null, `${rows}×${columns}×${n}: ${failure}`).toBe(
        failure === null,
      );
    },
  );

  const dist = '.cache/ohif-app-3.13.2/package/dist';
  it.skipIf(!existsSync(dist))(
    'the host bundle still views Parametric Map frames at a byte offset of i·rows·columns',
    () => {
      const found = readdirSync(dist)
        .filter((f) => f.endsWith('.js'))
        .some((f) =>
          readFileSync(`${dist}/${f}`, 'utf8').includes(
            'new sourcePixelData.constructor(sourcePixelData.buffer, i * sliceLength, sliceLength)',
          ),
        );
      expect(found).toBe(true);
    },
  );
});
