import { describe, expect, it } from 'vitest';
import { applyModalityLut, linearLutFromAttributes } from '../../../extension/src/viewer/modalityLut';
import { chooseModalityLut } from '../../../extension/src/viewer/readSlice';

describe('linearLutFromAttributes', () => {
  it('treats absent attributes as identity', () => {
    expect(linearLutFromAttributes(undefined, undefined)).toEqual({ slope: 1, intercept: 0 });
    expect(linearLutFromAttributes(null, '')).toEqual({ slope: 1, intercept: 0 });
  });
  it('parses DICOM decimal strings', () => {
    expect(linearLutFromAttributes('0.5', '-1024')).toEqual({ slope: 0.5, intercept: -1024 });
  });
  it('rejects a zero or non-numeric slope and a non-numeric intercept', () => {
    expect(() => linearLutFromAttributes(0, 0)).toThrow(/RescaleSlope 0/);
    expect(() => linearLutFromAttributes('abc', 0)).toThrow(/RescaleSlope abc/);
    expect(() => linearLutFromAttributes(1, 'x')).toThrow(/RescaleIntercept x/);
  });
});

describe('applyModalityLut', () => {
  it('computes stored · slope + intercept into a new float32 array', () => {
    const stored = new Int16Array([0, 1, -2, 1000]);
    const out = applyModalityLut(stored, { slope: 2, intercept: -1024 });
    expect(Array.from(out)).toEqual([-1024, -1022, -1028, 976]);
    expect(out).toBeInstanceOf(Float32Array);
    expect(Array.from(stored)).toEqual([0, 1, -2, 1000]); // the source is untouched
  });
  it('copies values unchanged for the identity LUT', () => {
    const stored = new Uint16Array([7, 65535]);
    expect(Array.from(applyModalityLut(stored, { slope: 1, intercept: 0 }))).toEqual([7, 65535]);
  });
});

describe('chooseModalityLut', () => {
  it('applies nothing more when the loader already pre-scaled the pixels', () => {
    const choice = chooseModalityLut(
      { preScale: { scaled: true, scalingParameters: { rescaleSlope: 0.5, rescaleIntercept: 3 } } },
      { rescaleSlope: 0.5, rescaleIntercept: 3 },
    );
    expect(choice.toApply).toEqual({ slope: 1, intercept: 0 });
    expect(choice.info).toEqual({ slope: 0.5, intercept: 3, appliedByLoader: true });
  });
  it('applies the metadata LUT to unscaled pixels, preferring metadata over image fields', () => {
    const choice = chooseModalityLut(
      { preScale: { scaled: false }, slope: 9, intercept: 9 },
      { rescaleSlope: '2', rescaleIntercept: '-10' },
    );
    expect(choice.toApply).toEqual({ slope: 2, intercept: -10 });
    expect(choice.info.appliedByLoader).toBe(false);
  });
  it('falls back to the image fields when the metadata has none', () => {
    expect(chooseModalityLut({ slope: 3, intercept: 1 }, undefined).toApply).toEqual({ slope: 3, intercept: 1 });
  });
});
