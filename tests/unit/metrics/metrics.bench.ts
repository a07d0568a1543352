// `npx vitest bench --run tests/unit/metrics`: measured times of the ground-truth metrics on a
// full series, 180 slices of 256×256 (≈ 11.8 M pixels), the size of a BraTS-like volume.
// Printed figures only; no test asserts a speed.
import { bench, describe } from 'vitest';

import {
  auroc,
  computeGroundTruthMetrics,
  metricsAtThreshold,
  pooledBinaryProblem,
  prepareComparison,
  type SliceInput,
} from '../../../extension/src/metrics';

const SIZE = 256;
const SLICES = 180;

function seriesInputs(): SliceInput[] {
  let seed = 12345;
  const random = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  return Array.from({ length: SLICES }, (_, k) => {
    const map = new Float32Array(SIZE * SIZE);
    const groundTruth = new Uint8Array(SIZE * SIZE);
    const lesion = k > 60 && k < 120;
    for (let i = 0; i < map.length; i++) {
      const row = (i / SIZE) | 0;
      const column = i % SIZE;
      const inside = lesion && (row - 128) ** 2 + (column - 100) ** 2 < 400;
      groundTruth[i] = inside ? 1 : 0;
      // Quantised to 1/4096 like a float32 map with many ties.
      map[i] = Math.round((random() * 0.6 + (inside ? 0.3 : 0)) * 4096) / 4096;
    }
    return { sopInstanceUID: `1.2.3.${k}`, map, groundTruth, imageScore: random() + (lesion ? 0.5 : 0) };
  });
}

const inputs = seriesInputs();

describe(`${SLICES} × ${SIZE}×${SIZE} slices`, () => {
  bench(
    'pooled problem (sort once) + pixel AUROC',
    () => {
      auroc(
        pooledBinaryProblem(
          inputs.map((s) => s.map),
          inputs.map((s) => s.groundTruth),
        ),
      );
    },
    { iterations: 3, time: 0, warmupIterations: 1 },
  );

  bench(
    'computeGroundTruthMetrics (every slice + pooled series, curves)',
    () => {
      computeGroundTruthMetrics(inputs, 0.5);
    },
    { iterations: 3, time: 0, warmupIterations: 1 },
  );

  // What a threshold move costs once the comparison is prepared (the panel's slider).
  const prepared = prepareComparison(inputs);
  let step = 0;
  bench(
    'metricsAtThreshold (every slice + pooled, a new threshold each time)',
    () => {
      metricsAtThreshold(prepared, (step++ % 100) / 100);
    },
    { iterations: 200, time: 0, warmupIterations: 10 },
  );
});
