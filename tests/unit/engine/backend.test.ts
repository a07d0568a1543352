import { describe, expect, it } from 'vitest';
import { chooseBackend, type BackendEnvironment } from '../../../extension/src/engine/backend';

// Browser descriptions (navigator.gpu / navigator.ml / page isolation), as the choice sees them.
const gpuWith = (adapter: unknown): BackendEnvironment['gpu'] => ({ requestAdapter: async () => adapter });

describe('chooseBackend', () => {
  it('headless Chromium without GPU, not isolated: WASM, 1 thread, with every reason', async () => {
    const plan = await chooseBackend({ gpu: gpuWith(null), hardwareConcurrency: 2, crossOriginIsolated: false });
    expect(plan.chosen).toBe('wasm');
    expect(plan.candidates).toEqual(['wasm']);
    expect(plan.threads).toBe(1);
    expect(plan.skipped.map((s) => s.backend)).toEqual(['webgpu', 'webnn', 'wasm']);
    expect(plan.skipped[0]!.reason).toMatch(/returned no adapter/);
    expect(plan.skipped[1]!.reason).toMatch(/navigator\.ml/);
    expect(plan.skipped[2]!.reason).toMatch(/crossOriginIsolated/);
  });

  it('isolated page: threads = min(hardwareConcurrency, 4)', async () => {
    expect((await chooseBackend({ hardwareConcurrency: 2, crossOriginIsolated: true })).threads).toBe(2);
    expect((await chooseBackend({ hardwareConcurrency: 16, crossOriginIsolated: true })).threads).toBe(4);
    expect((await chooseBackend({ crossOriginIsolated: true })).threads).toBe(1);
    expect(
      (await chooseBackend({ hardwareConcurrency: 16, crossOriginIsolated: true }, { maxThreads: 8 })).threads,
    ).toBe(8);
  });

  it('a real GPU adapter: WebGPU first, WASM kept as fallback', async () => {
    const plan = await chooseBackend({
      gpu: gpuWith({ info: { isFallbackAdapter: false } }),
      crossOriginIsolated: true,
      hardwareConcurrency: 8,
    });
    expect(plan.chosen).toBe('webgpu');
    expect(plan.candidates).toEqual(['webgpu', 'wasm']);
  });

  it('a software fallback adapter is skipped (both spellings of the flag)', async () => {
    for (const adapter of [{ info: { isFallbackAdapter: true } }, { isFallbackAdapter: true }]) {
      const plan = await chooseBackend({ gpu: gpuWith(adapter) });
      expect(plan.chosen).toBe('wasm');
      expect(plan.skipped[0]).toEqual({ backend: 'webgpu', reason: expect.stringMatching(/software fallback/) });
    }
  });

  it('a software adapter is used only when asked for (allowSoftwareGpu), WASM still last', async () => {
    const plan = await chooseBackend(
      { gpu: gpuWith({ info: { isFallbackAdapter: true } }) },
      { allowSoftwareGpu: true },
    );
    expect(plan.chosen).toBe('webgpu');
    expect(plan.candidates).toEqual(['webgpu', 'wasm']);
    expect(plan.skipped.some((s) => s.backend === 'webgpu')).toBe(false);
  });

  it('requestAdapter throwing is a reason, not a crash', async () => {
    const plan = await chooseBackend({
      gpu: {
        requestAdapter: async () => {
          throw new Error('GPU process lost');
        },
      },
    });
    expect(plan.skipped[0]!.reason).toMatch(/requestAdapter\(\) failed: GPU process lost/);
  });

  it('WebNN where navigator.ml exists, after WebGPU; configuration can rule backends out', async () => {
    const env = { gpu: gpuWith({}), ml: {}, hardwareConcurrency: 4, crossOriginIsolated: true };
    expect((await chooseBackend(env)).candidates).toEqual(['webgpu', 'webnn', 'wasm']);
    const plan = await chooseBackend(env, { disabled: ['webgpu'] });
    expect(plan.candidates).toEqual(['webnn', 'wasm']);
    expect(plan.skipped).toEqual([{ backend: 'webgpu', reason: 'disabled by configuration' }]);
  });
});
