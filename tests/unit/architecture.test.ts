// The shape of extension/src, kept: imports run down the layers, only viewer/ knows the host,
// and no function grows past ~80 lines without saying why. Measured by scripts/code-shape.mjs
// (the same analysis `node scripts/code-shape.mjs` prints), on the real source tree.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error -- a plain ES module script, without type declarations
import { analyse, SOURCE_ROOT } from '../../scripts/code-shape.mjs';

interface FunctionInfo {
  file: string;
  name: string;
  line: number;
  lines: number;
}
interface Edge {
  from: string;
  to: string;
  fromModule: string;
  toModule: string;
}

const { functions, edges } = analyse() as { functions: FunctionInfo[]; edges: Edge[] };

/** Files any layer may import: constants, errors, configuration, the model identity record. */
const LEAVES = new Set(['ids.ts', 'config.ts', 'errors.ts', 'modelIdentity.ts']);

/**
 * Layers, top to bottom: a file imports only from its own folder, a lower layer, or a leaf.
 * The module getters (index, init, commandsModule, getPanelModule...) sit on top.
 */
const LAYERS: string[][] = [
  ['(top)'],
  ['panel'],
  ['service'],
  ['results'],
  ['viewer'],
  ['domain'],
  ['engine', 'metrics', 'dicom', 'overlay'],
];

const layerOf = (module: string) => LAYERS.findIndex((layer) => layer.includes(module));
const fileName = (path: string) => path.split('/').pop()!;
const isLeaf = (path: string) => !path.includes('/') && LEAVES.has(fileName(path).replace(/\.tsx?$/, '') + '.ts');

/** Outside viewer/, only these viewer modules may be imported: the adapter and pure geometry/LUT types. */
const VIEWER_PUBLIC = new Set(['viewer/host', 'viewer/volumePlane', 'viewer/modalityLut']);

/** How long a function may be before it needs a comment that says why. */
const MAX_FUNCTION_LINES = 80;

describe('extension/src architecture', () => {
  it('finds the source tree (the analysis is not vacuous)', () => {
    expect(functions.length).toBeGreaterThan(300);
    expect(edges.length).toBeGreaterThan(100);
    expect(LAYERS.flat().every((module) => edges.some((e) => e.fromModule === module || e.toModule === module))).toBe(
      true,
    );
  });

  it('imports run down the layers (or to a leaf), never up or sideways', () => {
    const upward = edges.filter((e) => {
      if (e.fromModule === e.toModule && e.fromModule !== '(top)') return false;
      if (isLeaf(e.to)) return false;
      if (e.fromModule === '(top)' && e.toModule === '(top)') return isLeaf(e.from); // a leaf imports no getter
      const from = layerOf(e.fromModule);
      const to = layerOf(e.toModule);
      return !(to > from);
    });
    expect(upward.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it('every folder is in a layer', () => {
    const unknown = [...new Set(edges.flatMap((e) => [e.fromModule, e.toModule]))].filter((m) => layerOf(m) < 0);
    expect(unknown).toEqual([]);
  });

  it('only viewer/ reaches the host: others import the adapter (viewer/host) and pure types only', () => {
    const reaching = edges.filter(
      (e) => e.fromModule !== 'viewer' && e.toModule === 'viewer' && !VIEWER_PUBLIC.has(e.to.replace(/\.tsx?$/, '')),
    );
    expect(reaching.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it(`no function is longer than ${MAX_FUNCTION_LINES} lines unless a comment above it says why ("Long because")`, () => {
    const sources = new Map<string, string[]>();
    const linesOf = (file: string) => {
      if (!sources.has(file)) sources.set(file, readFileSync(path.join(SOURCE_ROOT, file), 'utf8').split('\n'));
      return sources.get(file)!;
    };
    const unexplained = functions
      .filter((f) => f.lines > MAX_FUNCTION_LINES)
      .filter((f) => {
        // The comment block right above the function's first line.
        const lines = linesOf(f.file);
        let start = f.line - 2;
        while (start >= 0 && /^\s*(\/\/|\*|\/\*\*)/.test(lines[start]!)) start--;
        return !/Long because/.test(lines.slice(start + 1, f.line - 1).join('\n'));
      })
      .map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`);
    expect(unexplained).toEqual([]);
  });
});
