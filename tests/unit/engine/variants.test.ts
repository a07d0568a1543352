// The model-variant rule (engine/variants.ts) on manifests that list float32, float16 and
// int8 with and without recorded quality; and the adapter's shader-f16 flag it reads.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chooseBackend } from '../../../extension/src/engine/backend';
import { EngineError } from '../../../extension/src/engine/errors';
import { parseManifest, type ClueManifest, type VariantQuality } from '../../../extension/src/engine/manifest';
import { chooseVariant, INT8_MAX_AUROC_LOSS, int8Refusal } from '../../../extension/src/engine/variants';
import { REPO_ROOT } from './golden';

const golden = (name: string): ClueManifest =>
  parseManifest(JSON.parse(readFileSync(path.join(REPO_ROOT, 'tests', 'golden', 'manifests', 'valid', name), 'utf8')));

const quality = (pixel: number | null, image: number | null): VariantQuality => ({
  versus: 'float32',
  eval_set: 'validation seeds',
  slices: 160,
  pixel_auroc_delta: pixel,
  image_auroc_delta: image,
  max_abs_map_diff: 0.1,
});

/** The golden variants manifest with the int8 file's quality replaced (undefined: removed). */
function withInt8Quality(q: VariantQuality | undefined): ClueManifest {
  const manifest = structuredClone(golden('variants-with-quality.json'));
  const int8 = manifest.files.find((f) => f.dtype === 'int8')!;
  if (q) int8.quality = q;
  else delete int8.quality;
  return parseManifest(manifest); // still a valid manifest
}

describe('chooseVariant', () => {
  it('WASM: int8 when its recorded AUROC loss is within the tolerance, saying why', () => {
    const choice = chooseVariant(withInt8Quality(quality(-0.0006, 0.0066)), 'wasm');
    expect(choice).toMatchObject({ dtype: 'int8', path: 'model.int8.onnx' });
    expect(choice.reason).toMatch(/^int8 on WASM: on 160 validation slices \(validation seeds\) pixel AUROC −0\.0006/);
    expect(choice.reason).toContain(`tolerance of ${INT8_MAX_AUROC_LOSS}`);
    // Exactly at the tolerance is within it.
    expect(chooseVariant(withInt8Quality(quality(-INT8_MAX_AUROC_LOSS, 0)), 'wasm').dtype).toBe('int8');
  });

  it('WASM: float32 when int8 loses more, was not measured, could not be measured, or is not listed', () => {
    const cases: [ClueManifest, RegExp][] = [
      [withInt8Quality(quality(-0.0051, 0)), /loses 0\.0051 pixel AUROC .* \(tolerance 0\.005\)/],
      [withInt8Quality(quality(0, -0.02)), /loses 0\.0200 image AUROC/],
      [withInt8Quality(undefined), /quality against float32 is not recorded/],
      [withInt8Quality(quality(null, 0)), /pixel AUROC against float32 could not be measured/],
      [golden('minimal.json'), /lists no int8 file/],
    ];
    for (const [manifest, why] of cases) {
      const choice = chooseVariant(manifest, 'wasm');
      expect(choice.dtype).toBe('float32');
      expect(choice.path).toBe('model.onnx');
      expect(choice.reason).toMatch(why);
    }
  });

  it('a gain is not a loss: int8 scoring higher than float32 is within the tolerance', () => {
    expect(int8Refusal(quality(0.02, 0.03))).toBeNull();
    expect(int8Refusal(quality(-0.006, 0.03))).toMatch(/loses 0\.0060 pixel AUROC/);
  });

  it('WebGPU: float16 only when the adapter offers shader-f16', () => {
    const manifest = golden('variants-with-quality.json');
    const f16 = chooseVariant(manifest, 'webgpu', { shaderF16: true });
    expect(f16).toMatchObject({ dtype: 'float16', path: 'model.fp16.onnx' });
    expect(f16.reason).toMatch(/shader-f16/);
    const without = chooseVariant(manifest, 'webgpu', { shaderF16: false });
    expect(without.dtype).toBe('float32');
    expect(without.reason).toMatch(/does not offer 'shader-f16'/);
    // Never int8 on WebGPU (its integer kernels are CPU ones there).
    expect(chooseVariant(golden('minimal.json'), 'webgpu', { shaderF16: true }).reason).toMatch(/no float16 file/);
    expect(chooseVariant(manifest, 'webnn').dtype).toBe('float32');
  });

  it('an explicit request overrides the rule, and one the manifest cannot meet is an error', () => {
    const manifest = golden('variants-with-quality.json');
    const forced = chooseVariant(manifest, 'wasm', { requested: 'float32' });
    expect(forced).toMatchObject({ dtype: 'float32', reason: 'requested by the configuration (clue.modelVariant)' });
    expect(chooseVariant(manifest, 'webgpu', { requested: 'int8' }).dtype).toBe('int8');
    expect(chooseVariant(withInt8Quality(quality(-0.5, -0.5)), 'wasm', { requested: 'int8' }).dtype).toBe('int8');
    let error: unknown;
    try {
      chooseVariant(golden('minimal.json'), 'wasm', { requested: 'int8' });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(EngineError);
    expect(error).toMatchObject({ code: 'manifest' });
    expect((error as Error).message).toMatch(
      /asks for the int8 model variant \(clue\.modelVariant\).* lists only float32/,
    );
  });
});

describe('chooseBackend: shader-f16', () => {
  const gpu = (features: string[]) => ({
    requestAdapter: async () => ({ info: { isFallbackAdapter: false }, features: new Set(features) }),
  });
  it('reports whether the WebGPU adapter offers shader-f16', async () => {
    expect((await chooseBackend({ gpu: gpu(['shader-f16', 'timestamp-query']) })).shaderF16).toBe(true);
    expect((await chooseBackend({ gpu: gpu(['timestamp-query']) })).shaderF16).toBe(false);
    expect((await chooseBackend({ gpu: { requestAdapter: async () => ({}) } })).shaderF16).toBe(false);
    expect((await chooseBackend({})).shaderF16).toBe(false);
    // A WebGPU ruled out by the configuration is not asked.
    expect((await chooseBackend({ gpu: gpu(['shader-f16']) }, { disabled: ['webgpu'] })).shaderF16).toBe(false);
  });
});
