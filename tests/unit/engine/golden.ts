// Reads the golden vectors that `clue golden` writes from the Python reference
// (models/clue/golden.py documents the format). Shared by the engine's unit tests.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export interface StoredArray {
  encoding: 'json' | 'base64-float32-le' | 'base64-int16-le';
  values?: number[];
  data?: string;
  rescale?: { slope: number; intercept: number };
}

export interface Expected {
  shape: number[];
  geometry: { square: number; top: number; left: number };
  values?: number[];
  samples?: { index: number[]; values: number[] };
  mean?: number[];
  mean_abs?: number[];
}

export interface GoldenCase {
  name: string;
  description: string;
  tolerance: { abs: number };
  expected: Expected & { window?: { lo: number; hi: number } | null };
  [key: string]: unknown;
}

export function readGolden(file: 'preprocess.json' | 'postprocess.json'): GoldenCase[] {
  const document = JSON.parse(readFileSync(path.join(REPO_ROOT, 'tests', 'golden', file), 'utf8'));
  if (document.format !== 'clue-golden/1') throw new Error(`${file}: unknown format ${document.format}`);
  return document.cases as GoldenCase[];
}

/** Decodes a stored array to float32 real-world values (int16: stored · slope + intercept in float64). */
export function decodeArray(stored: StoredArray): Float32Array {
  if (stored.encoding === 'json') return Float32Array.from(stored.values!);
  const bytes = Buffer.from(stored.data!, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (stored.encoding === 'base64-float32-le') {
    const out = new Float32Array(bytes.byteLength / 4);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    return out;
  }
  const { slope, intercept } = stored.rescale!;
  const out = new Float32Array(bytes.byteLength / 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getInt16(i * 2, true) * slope + intercept;
  return out;
}

/** Largest deviation from the expected values (complete, or samples + per-channel means). */
export function compareToExpected(actual: Float32Array, expected: Expected): { maxAbs: number; compared: number } {
  const total = expected.shape.reduce((a, b) => a * b, 1);
  if (actual.length !== total) throw new Error(`got ${actual.length} values, expected ${total}`);
  let maxAbs = 0;
  let compared = 0;
  const check = (a: number, e: number) => {
    maxAbs = Math.max(maxAbs, Math.abs(a - e));
    compared++;
  };
  if (expected.values) {
    expected.values.forEach((e, i) => check(actual[i]!, e));
    return { maxAbs, compared };
  }
  expected.samples!.index.forEach((index, i) => check(actual[index]!, expected.samples!.values[i]!));
  const channels = expected.shape.length === 3 ? expected.shape[0]! : 1;
  const per = total / channels;
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    let sumAbs = 0;
    for (let i = c * per; i < (c + 1) * per; i++) {
      sum += actual[i]!;
      sumAbs += Math.abs(actual[i]!);
    }
    check(sum / per, expected.mean![c]!);
    check(sumAbs / per, expected.mean_abs![c]!);
  }
  return { maxAbs, compared };
}
