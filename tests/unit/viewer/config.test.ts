import { describe, expect, it } from 'vitest';
import { DEFAULT_CLUE_CONFIG, readClueConfig } from '../../../extension/src/config';

describe('readClueConfig', () => {
  it('uses defaults when window.config.clue is absent', () => {
    expect(readClueConfig({})).toEqual(DEFAULT_CLUE_CONFIG);
    expect(readClueConfig(undefined)).toEqual(DEFAULT_CLUE_CONFIG);
  });
  it('takes the keys that are given', () => {
    expect(readClueConfig({ clue: { modelUrl: '/x/manifest.json', defaultThreshold: 0.25 } })).toEqual({
      modelUrl: '/x/manifest.json',
      defaultThreshold: 0.25,
      extensionUrl: '',
      allowSoftwareGpu: false,
      modelVariant: 'auto',
    });
    expect(readClueConfig({ clue: { allowSoftwareGpu: true } }).allowSoftwareGpu).toBe(true);
  });
  it('modelVariant: "auto" by default, a manifest dtype when given, anything else named', () => {
    expect(DEFAULT_CLUE_CONFIG.modelVariant).toBe('auto');
    for (const variant of ['auto', 'float32', 'float16', 'int8'] as const) {
      expect(readClueConfig({ clue: { modelVariant: variant } }).modelVariant).toBe(variant);
    }
    for (const wrong of ['fp16', 'INT8', '', 8, null, true]) {
      expect(() => readClueConfig({ clue: { modelVariant: wrong } })).toThrow(
        /window\.config\.clue\.modelVariant must be one of "auto", "float32", "float16", "int8" \(got /,
      );
    }
  });
  it('names the key that is wrong', () => {
    expect(() => readClueConfig({ clue: 'x' })).toThrow('window.config.clue must be an object');
    expect(() => readClueConfig({ clue: { modelUrl: '' } })).toThrow('window.config.clue.modelUrl');
    expect(() => readClueConfig({ clue: { defaultThreshold: 2 } })).toThrow('window.config.clue.defaultThreshold');
    expect(() => readClueConfig({ clue: { extensionUrl: 3 } })).toThrow('window.config.clue.extensionUrl');
    // A string "true" is a deployment mistake, not a yes.
    expect(() => readClueConfig({ clue: { allowSoftwareGpu: 'true' } })).toThrow(
      'window.config.clue.allowSoftwareGpu must be true or false',
    );
  });
});
