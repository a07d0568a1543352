// Which of the manifest's model files (variants: float32, float16, int8) runs on a backend,
// and why (docs/manifest.md § Model variants). The rule, per backend:
//   - an explicit request (config `clue.modelVariant`) wins; a manifest without it is an error;
//   - WebGPU: float16 when the adapter offers 'shader-f16' and the manifest lists it, else float32;
//   - WASM: int8 when the manifest lists it with a recorded quality whose AUROC loss against
//     float32 is within INT8_MAX_AUROC_LOSS, else float32;
//   - WebNN: float32.
// A missing float32 file (a manifest may list only variants) falls back to the first file.

import { EngineError } from './errors';
import type { BackendName } from './backend';
import type { ClueManifest, ModelDtype, ModelFileEntry, VariantQuality } from './manifest';

/** What the configuration may ask for: 'auto' applies the per-backend rule. */
export type VariantRequest = 'auto' | ModelDtype;

/**
 * The most AUROC (pixel and image, each) the int8 file may lose against float32 on its
 * recorded validation set for the WASM backend to use it without being asked. Loss is
 * float32 − int8: a gain (the int8 file scoring higher, which on a few hundred slices is
 * noise) is not a loss. 0.005 is below the differences the evaluation tables resolve (they
 * print AUROC to 3 decimals, and a different seed of the same demo training moves them by
 * more), so a variant within it does not change what those tables say about the model. Both
 * deltas must be recorded: a variant whose quality was never measured (or could not be, e.g.
 * a set with one class) is not used by itself.
 */
export const INT8_MAX_AUROC_LOSS = 0.005;

export interface VariantChoice {
  dtype: ModelDtype;
  /** The file's path, relative to the manifest. */
  path: string;
  /** Why this file (shown in the panel). */
  reason: string;
  file: ModelFileEntry;
}

export interface VariantContext {
  requested?: VariantRequest | undefined;
  /** Whether the WebGPU adapter offers the 'shader-f16' feature. */
  shaderF16?: boolean | undefined;
}

const formatDelta = (value: number | null): string =>
  value === null ? 'not computable' : `${value >= 0 ? '+' : '−'}${Math.abs(value).toFixed(4)}`;

/** Why `quality` rules the int8 file out, or null when it is within the tolerance. */
export function int8Refusal(quality: VariantQuality | undefined): string | null {
  if (!quality) return 'its quality against float32 is not recorded in the manifest';
  const deltas: [string, number | null][] = [
    ['pixel AUROC', quality.pixel_auroc_delta],
    ['image AUROC', quality.image_auroc_delta],
  ];
  for (const [name, delta] of deltas) {
    if (delta === null) return `its ${name} against float32 could not be measured on ${quality.eval_set}`;
    if (-delta > INT8_MAX_AUROC_LOSS) {
      return `it loses ${(-delta).toFixed(4)} ${name} against float32 on ${quality.eval_set} (tolerance ${INT8_MAX_AUROC_LOSS})`;
    }
  }
  return null;
}

function describeQuality(quality: VariantQuality): string {
  return (
    `on ${quality.slices} validation slices (${quality.eval_set}) pixel AUROC ${formatDelta(quality.pixel_auroc_delta)}, ` +
    `image AUROC ${formatDelta(quality.image_auroc_delta)} vs float32`
  );
}

/** The file to run on `backend`, and why. Throws EngineError('manifest') for a request the manifest cannot meet. */
export function chooseVariant(
  manifest: ClueManifest,
  backend: BackendName,
  context: VariantContext = {},
): VariantChoice {
  const byDtype = (dtype: ModelDtype) => manifest.files.find((f) => f.dtype === dtype);
  const make = (file: ModelFileEntry, reason: string): VariantChoice => ({
    dtype: file.dtype,
    path: file.path,
    reason,
    file,
  });
  const requested = context.requested ?? 'auto';
  if (requested !== 'auto') {
    const file = byDtype(requested);
    if (!file) {
      throw new EngineError(
        'manifest',
        `the configuration asks for the ${requested} model variant (clue.modelVariant), but the manifest of ` +
          `${manifest.id} lists only ${manifest.files.map((f) => f.dtype).join(', ')}`,
      );
    }
    return make(file, 'requested by the configuration (clue.modelVariant)');
  }
  const fp32 = byDtype('float32');
  const fallback = (why: string): VariantChoice =>
    fp32
      ? make(fp32, `float32: ${why}`)
      : make(manifest.files[0]!, `${manifest.files[0]!.dtype}: no float32 file listed`);

  if (backend === 'webgpu') {
    const fp16 = byDtype('float16');
    if (fp16 && context.shaderF16 === true) {
      return make(fp16, "float16: the WebGPU adapter offers 'shader-f16' (half the download)");
    }
    return fallback(
      fp16 ? "the WebGPU adapter does not offer 'shader-f16'" : 'the manifest lists no float16 file for WebGPU',
    );
  }
  if (backend === 'wasm') {
    const int8 = byDtype('int8');
    if (!int8) return fallback('the manifest lists no int8 file for WASM');
    const refusal = int8Refusal(int8.quality);
    if (refusal !== null) return fallback(`int8 not used on WASM: ${refusal}`);
    return make(
      int8,
      `int8 on WASM: ${describeQuality(int8.quality!)}, within the tolerance of ${INT8_MAX_AUROC_LOSS} AUROC loss`,
    );
  }
  return fallback(`no variant rule for ${backend}`);
}
