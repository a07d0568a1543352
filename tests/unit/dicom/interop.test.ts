// A second opinion on our DICOM: highdicom reads the SEG (segment, algorithm, masks by source
// instance) and pydicom decodes the Parametric Map's float pixels (tests/unit/dicom/readInPython.py).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { buildParametricMap, buildSegmentation, sourceSeriesFromInstances } from '../../../extension/src/dicom';
import { fakeMrSeries } from './fakeSeries';

// In CI (CI=true) `npm test` has installed every prerequisite: a missing one must fail, not skip.
const SKIP_ALLOWED = !process.env.CI;

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PYTHON = path.resolve(HERE, '../../../.venv/bin/python');

describe.skipIf(SKIP_ALLOWED && !existsSync(PYTHON))('interoperability with highdicom / pydicom', () => {
  it('reads the same masks, labels and floats we wrote', () => {
    const fake = fakeMrSeries({ slices: 3 });
    const source = sourceSeriesFromInstances(fake.instances);
    const pixels = fake.rows * fake.columns;
    const masks = source.images.map((_, k) =>
      Uint8Array.from({ length: pixels }, (_, i) => (k !== 0 && i % (k + 2) === 0 ? 1 : 0)),
    );
    const maps = source.images.map((_, k) => Float32Array.from({ length: pixels }, (_, i) => (i % 9) * 0.125 - k));
    const model = { id: 'clue-demo', version: '0.1.0', sha256: 'a1'.repeat(32) };
    const seg = buildSegmentation({ source, frames: masks, model, threshold: 0.25 });
    const map = buildParametricMap({ source, frames: maps, model });

    const dir = mkdtempSync(path.join(os.tmpdir(), 'clue-interop-'));
    try {
      writeFileSync(path.join(dir, 'seg.dcm'), new Uint8Array(seg.data));
      writeFileSync(path.join(dir, 'map.dcm'), new Uint8Array(map.data));
      const uids = source.images.map((im) => im.sopInstanceUID);
      const run = spawnSync(
        PYTHON,
        [path.join(HERE, 'readInPython.py'), path.join(dir, 'seg.dcm'), path.join(dir, 'map.dcm'), uids.join(',')],
        {
          encoding: 'utf8',
          timeout: 120000,
        },
      );
      expect(run.status, run.stderr).toBe(0);
      const read = JSON.parse(run.stdout);
      expect(read.seg).toMatchObject({
        segmentation_type: 'BINARY',
        segment_label: 'CLUE anomaly',
        algorithm_type: 'AUTOMATIC',
        algorithm_name: 'CLUE',
        algorithm_version: `0.1.0 sha256:${'a1'.repeat(32).slice(0, 64 - '0.1.0 sha256:'.length)}`,
        mask_shape: [3, fake.rows, fake.columns, 1],
      });
      expect(read.seg.source_uids).toEqual(uids);
      expect(read.seg.mask_sums).toEqual(masks.map((m) => m.reduce((a, b) => a + b, 0)));
      expect(read.map.shape).toEqual([3, fake.rows, fake.columns]);
      read.map.frame_sums.forEach((sum: number, k: number) => {
        expect(sum).toBeCloseTo(
          maps[k]!.reduce((a, b) => a + b, 0),
          6,
        );
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150000);
});
