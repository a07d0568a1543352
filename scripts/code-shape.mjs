#!/usr/bin/env node
// The shape of extension/src, measured: the longest functions, and the import graph between
// its folders. `node scripts/code-shape.mjs [--top N] [--json]`. The same analysis backs the
// architecture test (tests/unit/architecture.test.ts), so the figures a note quotes and the
// rules the tests keep come from one place.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const SOURCE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'extension', 'src');

function sourceFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|tsx)$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The module a file belongs to: its folder under src/, or "(top)" for src/ itself. */
export function moduleOf(file) {
  const parts = relative(SOURCE_ROOT, file).split(sep);
  return parts.length > 1 ? parts[0] : '(top)';
}

function functionName(node) {
  if (node.name && ts.isIdentifier(node.name)) return node.name.text;
  const parent = node.parent;
  if (parent && ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  if (parent && ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name)) return parent.name.text;
  return '(anonymous)';
}

/** Every function-like node with its length in lines, and the relative imports of each file. */
export function analyse(root = SOURCE_ROOT) {
  const functions = [];
  const imports = [];
  for (const file of sourceFiles(root)) {
    const text = readFileSync(file, 'utf8');
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
    const lineOf = (pos) => source.getLineAndCharacterOfPosition(pos).line + 1;
    const visit = (node) => {
      if (
        ts.isFunctionDeclaration(node) ||
        ts.isFunctionExpression(node) ||
        ts.isArrowFunction(node) ||
        ts.isMethodDeclaration(node) ||
        ts.isConstructorDeclaration(node)
      ) {
        const first = lineOf(node.getStart(source));
        const last = lineOf(node.getEnd());
        functions.push({ file: relative(root, file), name: functionName(node), line: first, lines: last - first + 1 });
      }
      if (
        (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
        node.moduleSpecifier &&
        ts.isStringLiteral(node.moduleSpecifier)
      ) {
        imports.push({ from: file, specifier: node.moduleSpecifier.text });
      }
      // Dynamic import('./x'): a dependency too.
      if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
        const [argument] = node.arguments;
        if (argument && ts.isStringLiteral(argument)) imports.push({ from: file, specifier: argument.text });
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  const edges = imports
    .filter((i) => i.specifier.startsWith('.'))
    .map((i) => {
      let target = resolve(dirname(i.from), i.specifier);
      // '../metrics' is the folder's index.ts.
      if (existsSync(target) && statSync(target).isDirectory()) target = join(target, 'index.ts');
      return {
        from: relative(root, i.from),
        to: relative(root, target),
        fromModule: moduleOf(i.from),
        toModule: moduleOf(target),
      };
    });
  return {
    functions: functions.sort((a, b) => b.lines - a.lines),
    edges,
    external: imports.filter((i) => !i.specifier.startsWith('.')),
  };
}

/** Folder → folders it imports (itself excluded), sorted. */
export function moduleGraph(edges) {
  const graph = new Map();
  for (const { fromModule, toModule } of edges) {
    if (fromModule === toModule) continue;
    if (!graph.has(fromModule)) graph.set(fromModule, new Set());
    graph.get(fromModule).add(toModule);
  }
  return new Map([...graph].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, [...v].sort()]));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const top = Number(args[args.indexOf('--top') + 1]) || 15;
  const { functions, edges } = analyse();
  const graph = moduleGraph(edges);
  if (args.includes('--json')) {
    console.log(JSON.stringify({ functions: functions.slice(0, top), graph: Object.fromEntries(graph) }, null, 2));
  } else {
    console.log(`Longest functions in extension/src (of ${functions.length}):`);
    for (const f of functions.slice(0, top))
      console.log(`  ${String(f.lines).padStart(4)}  ${f.file}:${f.line}  ${f.name}`);
    console.log('\nImports between folders of extension/src:');
    for (const [from, to] of graph) console.log(`  ${from.padEnd(10)} → ${to.join(', ')}`);
  }
}
