// `npx vitest bench --run tests/unit/dicom`: measured time to build the SEG and the Parametric
// Map of a full 180-slice 256×256 series. Printed figures only; no test asserts a speed.
import { bench, describe } from 'vitest';

import { buildParametricMap, buildSegmentation, sourceSeriesFromInstances } from '../../../extension/src/dicom';
import { fakeMrSeries } from './fakeSeries';

const fake = fakeMrSeries({ slices: 180, rows: 256, columns: 256 });
const source = sourceSeriesFromInstances(fake.instances);
const pixels = 256 * 256;
const maps = source.images.map((_, k) => Float32Array.from({ length: pixels }, (_, i) => ((i * 31 + k) % 1000) / 1000));
const masks = maps.map((map) => Uint8Array.from(map, (v) => (v >= 0.9 ? 1 : 0)));
const model = { id: 'clue-demo', version: '0.1.0', sha256: 'ab'.repeat(32) };

describe('180 × 256×256 series', () => {
  bench(
    'buildSegmentation (BINARY, 180 frames)',
    () => {
      buildSegmentation({ source, frames: masks, model, threshold: 0.9 });
    },
    { iterations: 3, time: 0, warmupIterations: 1 },
  );

  bench(
    'buildParametricMap (float32, 180 frames, 47 MB)',
    () => {
      buildParametricMap({ source, frames: maps, model });
    },
    { iterations: 3, time: 0, warmupIterations: 1 },
  );
});
