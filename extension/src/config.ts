// Our settings, read from `window.config.clue` (the host passes the whole app config to
// preRegistration). The host drops `[url, config]` pairs, so this key is the one channel.

/** Values of `clue.modelVariant`: 'auto' or a manifest dtype (engine/variants.ts). */
export const MODEL_VARIANTS = ['auto', 'float32', 'float16', 'int8'] as const;
export type ModelVariantSetting = (typeof MODEL_VARIANTS)[number];

export interface ClueConfig {
  /** URL of the model manifest (same origin by default). Used by the inference engine. */
  modelUrl: string;
  /** Threshold on the [0, 1] map used until the user moves the slider. */
  defaultThreshold: number;
  /**
   * URL the mode uses as the extension's key (the host re-imports every key of
   * mode.extensions). Empty: derived from the mode bundle's own URL.
   */
  extensionUrl: string;
  /**
   * Accept a software WebGPU adapter (e.g. SwiftShader) instead of skipping it for WASM.
   * Off by default: on real hardware a software GPU is slower than WASM; tests turn it on
   * to exercise the WebGPU path on machines without a GPU.
   */
  allowSoftwareGpu: boolean;
  /**
   * Which of the manifest's model files runs (docs/manifest.md § Model variants). 'auto':
   * float16 on WebGPU when the adapter offers shader-f16, int8 on WASM when its recorded
   * AUROC loss against float32 is within the engine's tolerance, else float32. A dtype forces
   * that file; a manifest that lacks it fails the model load with an error naming both.
   * Passed to the engine as `createEngine({ variant })`. readClueConfig always sets it;
   * optional only so that configs built by hand (tests) may leave it out, meaning 'auto'.
   */
  modelVariant?: ModelVariantSetting;
}

export const DEFAULT_CLUE_CONFIG: Readonly<ClueConfig> = Object.freeze({
  modelUrl: '/models/demo/manifest.json',
  defaultThreshold: 0.5,
  extensionUrl: '',
  allowSoftwareGpu: false,
  modelVariant: 'auto',
});

export class ClueConfigError extends Error {
  override name = 'ClueConfigError';
}

/**
 * Validates `appConfig.clue`. Missing keys take defaults; present keys of the wrong type
 * are an error naming the key (a silent fallback would hide a deployment mistake).
 */
export function readClueConfig(appConfig: unknown): ClueConfig {
  const raw = (appConfig as { clue?: unknown } | null | undefined)?.clue;
  if (raw === undefined || raw === null) {
    return { ...DEFAULT_CLUE_CONFIG };
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ClueConfigError('app-config.js: window.config.clue must be an object');
  }
  const clue = raw as Record<string, unknown>;
  const config: ClueConfig = { ...DEFAULT_CLUE_CONFIG };

  if (clue.modelUrl !== undefined) {
    if (typeof clue.modelUrl !== 'string' || clue.modelUrl.trim() === '') {
      throw new ClueConfigError('app-config.js: window.config.clue.modelUrl must be a non-empty string');
    }
    config.modelUrl = clue.modelUrl;
  }
  if (clue.defaultThreshold !== undefined) {
    const t = clue.defaultThreshold;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0 || t > 1) {
      throw new ClueConfigError('app-config.js: window.config.clue.defaultThreshold must be a number in [0, 1]');
    }
    config.defaultThreshold = t;
  }
  if (clue.extensionUrl !== undefined) {
    if (typeof clue.extensionUrl !== 'string') {
      throw new ClueConfigError('app-config.js: window.config.clue.extensionUrl must be a string');
    }
    config.extensionUrl = clue.extensionUrl;
  }
  if (clue.allowSoftwareGpu !== undefined) {
    if (typeof clue.allowSoftwareGpu !== 'boolean') {
      throw new ClueConfigError('app-config.js: window.config.clue.allowSoftwareGpu must be true or false');
    }
    config.allowSoftwareGpu = clue.allowSoftwareGpu;
  }
  if (clue.modelVariant !== undefined) {
    const variant = clue.modelVariant;
    if (!(MODEL_VARIANTS as readonly unknown[]).includes(variant)) {
      throw new ClueConfigError(
        `app-config.js: window.config.clue.modelVariant must be one of ${MODEL_VARIANTS.map((v) => `"${v}"`).join(', ')}` +
          ` (got ${JSON.stringify(variant)})`,
      );
    }
    config.modelVariant = variant as ModelVariantSetting;
  }
  return config;
}
