// Which onnxruntime-web execution provider to use, tried in a fixed order with the reason
// each one was skipped, so the panel can say what runs and why:
//   1. WebGPU — only with a real (not a software fallback) adapter;
//   2. WebNN — where the browser exposes navigator.ml;
//   3. WASM — threads = min(hardwareConcurrency, 4) on a crossOriginIsolated page, else 1.
// WASM is always the last candidate: if a GPU/NPU session cannot be created, the worker
// moves on to the next candidate and records why.

export type BackendName = 'webgpu' | 'webnn' | 'wasm';

export interface SkippedBackend {
  backend: BackendName;
  reason: string;
}

export interface BackendPlan {
  /** The first candidate (the one expected to run). */
  chosen: BackendName;
  /** Candidates in order; the worker tries them until a session is created. Ends with 'wasm'. */
  candidates: BackendName[];
  /** WASM threads (also used by WebGPU/WebNN for the CPU fallback of unsupported ops). */
  threads: number;
  /** Why the backends before `chosen` (and WASM threading, if limited) were not used. */
  skipped: SkippedBackend[];
  /**
   * Whether the WebGPU adapter offers the 'shader-f16' feature (false without a usable
   * adapter): the model variant rule (variants.ts) picks the float16 file on WebGPU only then.
   */
  shaderF16: boolean;
}

/** What the choice looks at (navigator + page facts), so tests can describe a browser. */
export interface BackendEnvironment {
  gpu?: { requestAdapter(options?: unknown): Promise<unknown> } | undefined;
  ml?: unknown;
  hardwareConcurrency?: number | undefined;
  crossOriginIsolated?: boolean | undefined;
}

export interface BackendPreferences {
  /** Backends the configuration rules out (e.g. ['webgpu'] to measure WASM). */
  disabled?: BackendName[];
  /** Upper bound on WASM threads (default 4). */
  maxThreads?: number;
  /**
   * Accept a software WebGPU adapter (e.g. SwiftShader) instead of skipping it. Off by default
   * (it is slower than WASM); the browser checks turn it on to execute the WebGPU path on a
   * machine without a GPU.
   */
  allowSoftwareGpu?: boolean;
}

export const MAX_WASM_THREADS = 4;

/** The current browser/worker's environment. */
export function currentEnvironment(): BackendEnvironment {
  const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator ?? {};
  return {
    gpu: nav.gpu as BackendEnvironment['gpu'],
    ml: nav.ml,
    hardwareConcurrency: typeof nav.hardwareConcurrency === 'number' ? nav.hardwareConcurrency : undefined,
    crossOriginIsolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated,
  };
}

function isFallbackAdapter(adapter: unknown): boolean {
  const a = adapter as { isFallbackAdapter?: unknown; info?: { isFallbackAdapter?: unknown } };
  return a.info?.isFallbackAdapter === true || a.isFallbackAdapter === true;
}

function hasShaderF16(adapter: unknown): boolean {
  const features = (adapter as { features?: { has?: (name: string) => boolean } }).features;
  return typeof features?.has === 'function' && features.has('shader-f16') === true;
}

/** Why WebGPU is not used (null: usable), and whether its adapter offers shader-f16. */
async function webgpuVerdict(
  env: BackendEnvironment,
  allowSoftware: boolean,
): Promise<{ reason: string | null; shaderF16: boolean }> {
  const no = (reason: string) => ({ reason, shaderF16: false });
  if (!env.gpu || typeof env.gpu.requestAdapter !== 'function')
    return no('navigator.gpu is not available in this browser');
  let adapter: unknown;
  try {
    adapter = await env.gpu.requestAdapter();
  } catch (error) {
    return no(`requestAdapter() failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (!adapter) return no('requestAdapter() returned no adapter (no usable GPU, or GPU disabled)');
  if (isFallbackAdapter(adapter) && !allowSoftware)
    return no('the only adapter is a software fallback (slower than WASM)');
  return { reason: null, shaderF16: hasShaderF16(adapter) };
}

export async function chooseBackend(
  env: BackendEnvironment = currentEnvironment(),
  preferences: BackendPreferences = {},
): Promise<BackendPlan> {
  const disabled = new Set(preferences.disabled ?? []);
  const candidates: BackendName[] = [];
  const skipped: SkippedBackend[] = [];
  let shaderF16 = false;

  if (disabled.has('webgpu')) skipped.push({ backend: 'webgpu', reason: 'disabled by configuration' });
  else {
    const verdict = await webgpuVerdict(env, preferences.allowSoftwareGpu === true);
    shaderF16 = verdict.shaderF16;
    if (verdict.reason === null) candidates.push('webgpu');
    else skipped.push({ backend: 'webgpu', reason: verdict.reason });
  }

  if (disabled.has('webnn')) skipped.push({ backend: 'webnn', reason: 'disabled by configuration' });
  else if (env.ml !== undefined && env.ml !== null) candidates.push('webnn');
  else skipped.push({ backend: 'webnn', reason: 'navigator.ml (WebNN) is not available in this browser' });

  candidates.push('wasm');

  const cap = Math.max(1, Math.floor(preferences.maxThreads ?? MAX_WASM_THREADS));
  const cores = Math.max(1, Math.floor(env.hardwareConcurrency ?? 1));
  let threads = 1;
  if (env.crossOriginIsolated === true) threads = Math.min(cores, cap);
  else {
    skipped.push({
      backend: 'wasm',
      reason: 'multi-threading needs a crossOriginIsolated page (COOP same-origin + COEP require-corp): 1 thread',
    });
  }
  return { chosen: candidates[0]!, candidates, threads, skipped, shaderF16 };
}
