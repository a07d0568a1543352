// The workflow's pure parts: stored results per slice, the colormap and heatmap painting,
// slice-size limits and the messages the panel shows for engine errors.
import { describe, expect, it } from 'vitest';
import { EngineError } from '../../../extension/src/engine/errors';
import {
  COLORMAP_STOPS,
  colormapCssGradient,
  colormapLut,
  colormapRgb,
  paintHeatmap,
} from '../../../extension/src/overlay/colormap';
import { checkDomain } from '../../../extension/src/domain/domain';
import { ClueInputError } from '../../../extension/src/errors';
import { engineErrorMessage } from '../../../extension/src/service/messages';
import { checkSliceSize, SLICE_LIMITS } from '../../../extension/src/viewer/imageMessages';
import {
  mapRange,
  MAX_STORED_MAP_BYTES,
  ResultCache,
  resultKey,
  type StoredResult,
} from '../../../extension/src/results/resultCache';

function stored(displaySetInstanceUID: string, imageId: string, values: number[] = [0.1, 0.9]): StoredResult {
  return {
    displaySetInstanceUID,
    imageId,
    rows: 1,
    columns: values.length,
    map: Float32Array.from(values),
    score: 0.5,
    mapMin: Math.min(...values),
    mapMax: Math.max(...values),
    mapName: 'm 1',
    timings: { preprocessMs: 1, inferenceMs: 2, postprocessMs: 3 },
    modalityLut: { slope: 1, intercept: 0, appliedByLoader: false },
    domain: checkDomain(undefined, {}),
    segmentationId: `clue::${displaySetInstanceUID}`,
    viewportId: 'vp',
    labelmapImageId: `lm:${imageId}`,
    threshold: 0.5,
    voxelCount: 1,
    durationMs: 0,
  };
}

describe('ResultCache', () => {
  it('keys by display set and image id', () => {
    const cache = new ResultCache();
    cache.set(stored('ds1', 'img1'));
    cache.set(stored('ds2', 'img1', [0.3, 0.4]));
    expect(cache.size).toBe(2);
    expect(cache.get('ds1', 'img1')!.map[1]).toBeCloseTo(0.9);
    expect(cache.get('ds2', 'img1')!.map[1]).toBeCloseTo(0.4);
    expect(cache.has('ds1', 'img2')).toBe(false);
    expect(resultKey('a', 'b')).not.toBe(resultKey('a\nb', ''));
  });

  it('replaces a slice’s result, lists and clears per display set', () => {
    const cache = new ResultCache();
    cache.set(stored('ds1', 'img1'));
    cache.set(stored('ds1', 'img2'));
    cache.set(stored('ds2', 'img3'));
    cache.set(stored('ds1', 'img1', [0.7, 0.7]));
    expect(cache.size).toBe(3);
    expect(
      cache
        .list('ds1')
        .map((r) => r.imageId)
        .sort(),
    ).toEqual(['img1', 'img2']);
    cache.clear('ds1');
    expect(cache.list().map((r) => r.imageId)).toEqual(['img3']);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('refuses a map whose size does not match its grid', () => {
    const cache = new ResultCache();
    expect(() => cache.set({ ...stored('ds', 'i'), rows: 2 })).toThrow(/needs 4 map values, got 2/);
  });

  it('counts the bytes its maps hold and says whether more fit a budget', () => {
    const cache = new ResultCache();
    cache.set(stored('ds', 'a', [0.1, 0.2, 0.3]));
    cache.set(stored('ds', 'b', [0.1]));
    expect(cache.bytes).toBe(16);
    expect(cache.fits(2, 2, 1, 32)).toBe(true); // 16 + 16
    expect(cache.fits(2, 2, 2, 32)).toBe(false); // 16 + 32
    expect(new ResultCache().fits(512, 512, 512, MAX_STORED_MAP_BYTES)).toBe(true);
    expect(new ResultCache().fits(512, 512, 513, MAX_STORED_MAP_BYTES)).toBe(false);
  });

  it('mapRange finds min and max', () => {
    expect(mapRange(Float32Array.from([0.5, -1, 3]))).toEqual({ min: -1, max: 3 });
  });
});

describe('colormap', () => {
  it('hits its anchors and interpolates between them', () => {
    for (const stop of COLORMAP_STOPS) expect(colormapRgb(stop.at)).toEqual([...stop.rgb]);
    const [a, b] = [COLORMAP_STOPS[0]!, COLORMAP_STOPS[1]!];
    const mid = colormapRgb((a.at + b.at) / 2);
    for (let c = 0; c < 3; c++) expect(mid[c]).toBe(Math.round((a.rgb[c]! + b.rgb[c]!) / 2));
  });

  it('clamps outside [0, 1] and treats NaN as 0', () => {
    expect(colormapRgb(-3)).toEqual(colormapRgb(0));
    expect(colormapRgb(7)).toEqual(colormapRgb(1));
    expect(colormapRgb(Number.NaN)).toEqual(colormapRgb(0));
  });

  it('the LUT and the legend gradient come from the same stops', () => {
    const lut = colormapLut();
    expect(lut.length).toBe(256 * 3);
    expect([...lut.slice(255 * 3)]).toEqual(colormapRgb(1));
    expect(colormapCssGradient()).toContain(`rgb(${COLORMAP_STOPS[0]!.rgb.join(', ')}) 0%`);
    expect(colormapCssGradient()).toContain('100%)');
  });

  it('paints colour at or above the threshold (float32 comparison) and transparency below', () => {
    const map = Float32Array.from([0.2, 0.5, Math.fround(0.7), 1.0]);
    const out = new Uint8ClampedArray(16).fill(99);
    const painted = paintHeatmap(map, 0.7, out);
    expect(painted).toBe(2);
    expect([out[3], out[7], out[11], out[15]]).toEqual([0, 0, 255, 255]);
    expect([...out.slice(12, 15)]).toEqual(colormapRgb(1));
    expect(paintHeatmap(map, 0, out)).toBe(4);
    expect(paintHeatmap(map, 1.01, out)).toBe(0);
  });

  it('painted pixels never increase as the threshold rises', () => {
    const map = Float32Array.from({ length: 500 }, (_, i) => Math.abs(Math.sin(i * 12.9898)) % 1);
    const out = new Uint8ClampedArray(map.length * 4);
    let previous = Infinity;
    for (let t = 0; t <= 1.0001; t += 0.05) {
      const n = paintHeatmap(map, t, out);
      expect(n).toBeLessThanOrEqual(previous);
      previous = n;
    }
  });

  it('refuses an RGBA buffer of the wrong size', () => {
    expect(() => paintHeatmap(new Float32Array(3), 0.5, new Uint8ClampedArray(8))).toThrow(RangeError);
  });
});

describe('slice limits', () => {
  it('accepts the documented range and refuses outside it with the sizes named', () => {
    expect(() => checkSliceSize(SLICE_LIMITS.maxSide, SLICE_LIMITS.minSide)).not.toThrow();
    expect(() => checkSliceSize(SLICE_LIMITS.maxSide + 1, 100)).toThrow(ClueInputError);
    expect(() => checkSliceSize(5000, 100)).toThrow(/5000×100 pixels; CLUE runs on images of at most 4096×4096/);
    expect(() => checkSliceSize(8, 300)).toThrow(/only 8×300 pixels; CLUE needs at least 16×16/);
  });
});

describe('engine error messages', () => {
  it('names the problem per code', () => {
    const url = '/models/demo/manifest.json';
    expect(engineErrorMessage(new EngineError('model-corrupt', 'x.onnx: sha256 differs'), url)).toBe(
      'The model file does not match its manifest and was not used: x.onnx: sha256 differs. Re-export or re-copy the model.',
    );
    expect(engineErrorMessage(new EngineError('model-missing', 'x.onnx: not found (404)'), url)).toMatch(
      /^The model file is missing: x\.onnx/,
    );
    expect(engineErrorMessage(new EngineError('manifest', 'bad schema'), url)).toContain(
      '(now /models/demo/manifest.json)',
    );
    expect(engineErrorMessage(new EngineError('model-too-large', '5 GB'), url)).toMatch(/too large for this browser/);
    expect(engineErrorMessage(new EngineError('network', 'offline'), url)).toMatch(/could not be downloaded/);
    expect(engineErrorMessage(new EngineError('backend', 'no session'), url)).toMatch(/runtime failed/);
    expect(engineErrorMessage(new EngineError('bad-input', 'NaN'), url)).toMatch(/cannot be preprocessed/);
  });

  it('leaves other errors to the generic handling', () => {
    expect(engineErrorMessage(new Error('boom'), '/m')).toBeNull();
    expect(engineErrorMessage(new ClueInputError('colour'), '/m')).toBeNull();
  });
});
