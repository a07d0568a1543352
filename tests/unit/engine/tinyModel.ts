// Builds the engine tests' fixture once per test file: a real `clue export` of the tiny
// random CLUE plus the Python side's result on one slice (fixtures/make_tiny_model.py).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './golden';

export interface TinyModelFixture {
  dir: string;
  modelDir: string;
  reference: { height: number; width: number; values: number[]; map: number[]; layer_maps: number[][]; score: number };
}

export function makeTinyModel(): TinyModelFixture {
  const python = path.join(REPO_ROOT, '.venv', 'bin', 'python');
  if (!existsSync(python))
    throw new Error(
      `${python} is missing: run scripts/setup.sh first (the fixture is exported by the Python pipeline)`,
    );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clue-engine-test-'));
  execFileSync(python, [path.join(REPO_ROOT, 'tests', 'unit', 'engine', 'fixtures', 'make_tiny_model.py'), dir], {
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 180_000,
  });
  const reference = JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8'));
  return { dir, modelDir: path.join(dir, 'model'), reference };
}
