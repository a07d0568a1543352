// Builds the extension and the mode as ES modules that the prebuilt OHIF viewer imports at
// run time (`(await import(url)).default`): dist/clue-extension.js and dist/clue-mode.js.
// React 18 is bundled into the extension for our panel island; the host's Cornerstone and
// OHIF are never bundled (they are reached at run time through the host's services).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import webpack from 'webpack';

const repoRoot = path.dirname(fileURLToPath(import.meta.url));

/**
 * Files copied verbatim into dist/ (source path relative to the repository root -> name in
 * dist/). The inference engine's onnxruntime-web .wasm/.mjs files belong here: they are
 * fetched at run time from next to the bundle (engine code sets ORT's wasmPaths to the
 * bundle's own URL).
 */
const copiedAssets = [
  // The build `import 'onnxruntime-web'` resolves to (WebGPU + WebNN + WASM): its runtime
  // glue and binary, loaded by the engine worker from its own folder.
  ['node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.mjs'],
  ['node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.jsep.wasm', 'ort-wasm-simd-threaded.jsep.wasm'],
];

/** Emits `copiedAssets` as build assets (no extra dependency for a plain file copy). */
class CopyAssetsPlugin {
  constructor(assets) {
    this.assets = assets;
  }
  apply(compiler) {
    compiler.hooks.thisCompilation.tap('CopyAssetsPlugin', (compilation) => {
      compilation.hooks.processAssets.tap(
        { name: 'CopyAssetsPlugin', stage: webpack.Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL },
        () => {
          for (const [from, to] of this.assets) {
            const source = path.join(repoRoot, from);
            compilation.fileDependencies.add(source);
            compilation.emitAsset(to, new webpack.sources.RawSource(readFileSync(source)));
          }
        },
      );
    });
  }
}

export default (_env, argv) => {
  const mode = argv?.mode === 'development' ? 'development' : 'production';
  return {
    mode,
    context: repoRoot,
    target: ['web', 'es2022'],
    entry: {
      'clue-extension': './extension/src/index.ts',
      'clue-mode': './mode/src/index.ts',
      // The inference worker (onnxruntime-web inside), started by engine/engine.ts from the
      // extension bundle's folder: new Worker(new URL('clue-engine-worker.js', import.meta.url)).
      'clue-engine-worker': './extension/src/engine/worker.ts',
      // The ground-truth comparison of a series (workflow/comparison.ts starts it the same way).
      'clue-metrics-worker': './extension/src/results/metricsWorker.ts',
    },
    experiments: { outputModule: true },
    output: {
      path: path.join(repoRoot, 'dist'),
      filename: '[name].js',
      chunkFilename: 'clue-chunk-[name].[contenthash:8].js',
      module: true,
      library: { type: 'module' },
      chunkFormat: 'module',
      // The host is itself a webpack/rspack build: a unique global keeps our chunk registry
      // apart from its own.
      chunkLoadingGlobal: 'clueOhifWebpackChunks',
      // Chunks and assets load relative to the bundle's own URL (import.meta.url).
      publicPath: 'auto',
      clean: true,
    },
    resolve: { extensions: ['.ts', '.tsx', '.js'] },
    module: {
      // Leave `import.meta.url` and `new URL(..., import.meta.url)` to the browser: they
      // must resolve against the bundle's URL in the viewer, not against our sources.
      parser: { javascript: { importMeta: false, url: false } },
      rules: [
        {
          test: /\.tsx?$/,
          exclude: /node_modules/,
          loader: 'ts-loader',
          // Type checking is `npx tsc -p tsconfig.json --noEmit` (part of npm test).
          options: { transpileOnly: true, configFile: path.join(repoRoot, 'tsconfig.json') },
        },
      ],
    },
    plugins: [
      new webpack.DefinePlugin({ 'process.env.NODE_ENV': JSON.stringify(mode) }),
      new CopyAssetsPlugin(copiedAssets),
    ],
    devtool: 'source-map',
    performance: { hints: false },
    stats: 'errors-warnings',
  };
};
