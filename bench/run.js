#!/usr/bin/env node
// `npm run bench`: the engine's speed and memory in headless Debian Chromium, side by side
// with onnxruntime-node on the same ONNX file, and click-to-overlay in the real viewer.
// A benchmark, not a test: it prints and writes measured figures and asserts nothing.
//
//   node bench/run.js [--models demo,vit-b16,vit-l14,...] [--threads 1,2] [--runs 5]
//                     [--large-runs 3] [--variants float32,int8] [--quick] [--no-viewer]
//                     [--merge] [--out bench]
//
// Models are names of MODELS below or export folders (with manifest.json). Per model and
// thread count: a fresh Chromium on one persistent profile (so Cache Storage has a real
// quota and the warm load can come from it), cold load (cache emptied first), 1 warm-up run
// and N timed runs of the engine, alternating with runs of onnxruntime-node (its own process,
// same file, same threads), warm load, the renderer's peak RSS. Writes bench/results.json (one
// record per measurement) and bench/results.md (the table). See bench/README.md.
import { execFileSync, spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  buildEngine,
  launchChromium,
  launchChromiumProfile,
  repoRoot,
  serve,
} from '../tests/unit/engine/browser/harness.mjs';
import { measureViewer } from './viewer.js';
import { CHROMIUM_PATH } from '../tests/e2e/lib/chromium.js';

const EXPORTS = path.join(repoRoot, '.cache', 'exports');
const PYTHON = path.join(repoRoot, '.venv', 'bin', 'python');
const CLUE = path.join(repoRoot, '.venv', 'bin', 'clue');

/** Named models: where the export lives and how to make it when it is missing. */
const MODELS = {
  // The shipped default; until it exists, the tiny random CLUE stands in (said in the results).
  demo: () => {
    const demo = path.join(repoRoot, 'models', 'artifacts', 'demo');
    if (existsSync(path.join(demo, 'manifest.json'))) return { name: 'demo', dir: demo };
    return {
      name: 'tiny (demo stand-in)',
      dir: exportOf('tiny', [
        '--model-config',
        'models/clue/configs/clue-tiny.toml',
        '--backbone',
        'preset:tiny-random',
      ]),
    };
  },
  tiny: () => ({
    name: 'tiny',
    dir: exportOf('tiny', ['--model-config', 'models/clue/configs/clue-tiny.toml', '--backbone', 'preset:tiny-random']),
  }),
  'vit-b16': () => ({
    name: 'vit-b16-random',
    dir: exportOf('vit-b16-random', [
      '--model-config',
      'models/clue/configs/clue-vit-b16.toml',
      '--backbone',
      'preset:ViT-B-16-random',
      '--fp16',
      '--id',
      'clue-vit-b16-random',
    ]),
  }),
  'vit-l14': () => ({
    name: 'vit-l14-random',
    dir: exportOf('vit-l14-random', [
      '--model-config',
      'models/clue/configs/clue-vit-l14.toml',
      '--backbone',
      'preset:ViT-L-14-random',
      '--fp16',
      '--id',
      'clue-vit-l14-random',
    ]),
  }),
  'vit-b16-int8': () => ({ name: 'vit-b16-random-int8', dir: int8Of('vit-b16') }),
  'vit-l14-int8': () => ({ name: 'vit-l14-random-int8', dir: int8Of('vit-l14') }),
};
const DEFAULT_MODELS = ['demo', 'vit-b16', 'vit-b16-int8', 'vit-l14', 'vit-l14-int8'];
const VARIANTS = ['float32', 'float16', 'int8'];
// Per-series figures: one series of this many slices (a 1 mm brain MR; docs/performance.md),
// extrapolated from the per-slice median, never measured as such.
export const SERIES_SLICES = 160;
// Interleaved variant runs hold one engine per variant in one page: only below this size.
const INTERLEAVE_MAX_BYTES = 1024 ** 3;

function exportOf(folder, exportArgs) {
  const dir = path.join(EXPORTS, folder);
  if (!existsSync(path.join(dir, 'manifest.json'))) {
    console.log(`[bench] making ${dir} (clue export ${exportArgs.join(' ')})`);
    execFileSync(CLUE, ['export', ...exportArgs, '--out', dir], { cwd: repoRoot, stdio: 'inherit' });
  }
  return dir;
}

function int8Of(key) {
  const source = MODELS[key]().dir;
  const dir = `${source}-int8`;
  if (!existsSync(path.join(dir, 'manifest.json'))) {
    console.log(`[bench] making ${dir} (bench/quantize_int8.py)`);
    execFileSync(PYTHON, [path.join(repoRoot, 'bench', 'quantize_int8.py'), source, '--out', dir], {
      cwd: repoRoot,
      stdio: 'inherit',
    });
  }
  return dir;
}

// --- arguments
function parseArgs(argv) {
  const options = {
    models: null,
    threads: [1, 2],
    runs: 5,
    largeRuns: 3,
    // The manifest's files measured, each as its own rows (the engine forced to it); one a
    // manifest does not list is skipped with a log line. --dtype X is --variants X.
    variants: ['float32', 'int8'],
    quick: false,
    viewer: true,
    merge: false,
    out: path.join(repoRoot, 'bench'),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${flag} needs a value`);
      return argv[++i];
    };
    if (flag === '--models') options.models = value().split(',').filter(Boolean);
    else if (flag === '--threads') options.threads = value().split(',').map(Number);
    else if (flag === '--runs') options.runs = Number(value());
    else if (flag === '--large-runs') options.largeRuns = Number(value());
    else if (flag === '--variants' || flag === '--dtype') options.variants = value().split(',').filter(Boolean);
    else if (flag === '--quick') options.quick = true;
    else if (flag === '--no-viewer') options.viewer = false;
    else if (flag === '--merge') options.merge = true;
    else if (flag === '--out') options.out = path.resolve(value());
    else
      throw new Error(
        `unknown option ${flag} (options: --models, --threads, --runs, --large-runs, --variants, --quick, --no-viewer, --merge, --out)`,
      );
  }
  if (options.quick) {
    // A quick look must not wipe the committed full results: its records replace only its own.
    options.models ??= ['demo'];
    options.runs = Math.min(options.runs, 2);
    options.merge = true;
  }
  options.models ??= DEFAULT_MODELS;
  if (!options.threads.every((t) => Number.isInteger(t) && t >= 1))
    throw new Error('--threads: positive integers, e.g. 1,2');
  if (!Number.isInteger(options.runs) || options.runs < 1) throw new Error('--runs: a positive integer');
  if (options.variants.length === 0 || !options.variants.every((v) => VARIANTS.includes(v)))
    throw new Error(`--variants: a comma-separated list of ${VARIANTS.join(', ')}`);
  if (!Number.isInteger(options.largeRuns) || options.largeRuns < 1)
    throw new Error('--large-runs: a positive integer');
  return options;
}

function resolveModel(spec) {
  if (MODELS[spec]) return MODELS[spec]();
  const dir = path.resolve(spec);
  if (!existsSync(path.join(dir, 'manifest.json'))) {
    throw new Error(
      `--models: ${spec} is neither a known model (${Object.keys(MODELS).join(', ')}) nor a folder with manifest.json`,
    );
  }
  return { name: path.basename(dir), dir };
}

// --- small helpers
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? null : +x.toFixed(digits));
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
const log = (line) => console.log(`[bench] ${line}`);

/** Peak resident set (VmHWM, MiB) over Chromium's renderer processes under this process. */
function rendererPeakRssMiB() {
  const parents = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // the process ended meanwhile
    }
  }
  const descends = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = parents.get(p) ?? 0, hops++) if (p === process.pid) return true;
    return false;
  };
  let peak = null;
  for (const pid of parents.keys()) {
    if (pid === process.pid || !descends(pid)) continue;
    try {
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) continue;
      const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (hwm) peak = Math.max(peak ?? 0, Number(hwm[1]) / 1024);
    } catch {
      // ended meanwhile
    }
  }
  return peak;
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// --- the engine in the browser (these run inside the page; the engine lives on window)
async function pageLoad({ manifestUrl, dtype, threads, coldLoad, allowSoftwareGpu = false }) {
  const { createEngine } = await import('/clue/engine-harness.js');
  const out = { isolated: crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency };
  if (coldLoad) out.cacheCleared = await caches.delete('clue-models-v1');
  window.__bench = {
    longTasks: [],
    createEngine,
    options: { manifestUrl, dtype, backends: { maxThreads: threads, allowSoftwareGpu } },
  };
  new PerformanceObserver((list) =>
    list.getEntries().forEach((e) => window.__bench.longTasks.push(e.duration)),
  ).observe({ type: 'longtask' });
  // A 256×240 slice of deterministic pseudo-random values (the cost does not depend on them).
  const values = new Float32Array(256 * 240);
  for (let i = 0; i < values.length; i++) values[i] = ((i * 2654435761) >>> 0) % 1000;
  window.__bench.slice = { values, width: 256, height: 240 };
  const started = performance.now();
  try {
    const engine = await createEngine(window.__bench.options);
    window.__bench.engine = engine;
    const info = engine.info;
    out.info = {
      backend: info.backend,
      threads: info.threads,
      skipped: info.skipped,
      modelBytes: info.modelBytes,
      dtype: info.dtype,
      modelId: info.modelId,
    };
    out.load = {
      totalMs: performance.now() - started,
      loadMs: info.loadMs,
      sessionMs: info.sessionMs,
      fromCache: info.fromCache,
      networkBytes: info.networkBytes,
      cacheProblem: info.cacheProblem,
    };
  } catch (error) {
    out.error = `load: ${error.code ? `${error.code}: ` : ''}${error.message ?? error}`;
  }
  return out;
}

async function pageRun() {
  const started = performance.now();
  try {
    const { timings } = await window.__bench.engine.run(window.__bench.slice);
    return { ...timings, wallMs: performance.now() - started };
  } catch (error) {
    return { error: `run: ${error.code ? `${error.code}: ` : ''}${error.message ?? error}` };
  }
}

/** Disposes the engine; with warmLoad, creates it again in the same page (model from the cache). */
async function pageFinish({ warmLoad }) {
  const out = { longTasksMs: [...window.__bench.longTasks] };
  window.__bench.engine.dispose();
  if (warmLoad) {
    const started = performance.now();
    try {
      const again = await window.__bench.createEngine(window.__bench.options);
      out.warm = {
        totalMs: performance.now() - started,
        loadMs: again.info.loadMs,
        sessionMs: again.info.sessionMs,
        fromCache: again.info.fromCache,
        networkBytes: again.info.networkBytes,
      };
      again.dispose();
    } catch (error) {
      out.warm = { error: `${error.code ? `${error.code}: ` : ''}${error.message ?? error}` };
    }
  }
  return out;
}

/** onnxruntime-node in its own process (bench/native.js), driven one run at a time. */
function startNative({ file, manifest, threads }) {
  const child = spawn(
    process.execPath,
    [
      path.join(repoRoot, 'bench', 'native.js'),
      file,
      String(threads),
      manifest.input.name,
      manifest.input.shape.join(','),
    ],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const replies = [];
  const waiters = [];
  let stderr = '';
  let ended = null;
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      return; // not ours (a library's own output)
    }
    if (waiters.length) waiters.shift()(message);
    else replies.push(message);
  });
  child.on('exit', (code, signal) => {
    ended = {
      error:
        `onnxruntime-node exited (${signal ?? `code ${code}`}) ${stderr.trim().split('\n').slice(-2).join(' ')}`.trim(),
    };
    for (const resolve of waiters.splice(0)) resolve(ended);
  });
  child.stdin.on('error', () => {}); // the process ended; the exit handler reports it
  return {
    next(timeoutMs) {
      if (replies.length) return Promise.resolve(replies.shift());
      if (ended) return Promise.resolve(ended);
      return withTimeout(new Promise((resolve) => waiters.push(resolve)), timeoutMs, 'onnxruntime-node').catch(
        (error) => ({ error: error.message }),
      );
    },
    send(command) {
      if (!ended) child.stdin.write(`${command}\n`);
    },
    stop() {
      if (!ended) child.kill('SIGKILL');
    },
  };
}

/**
 * One model, one thread count: Chromium (fresh browser, shared profile) and onnxruntime-node
 * side by side, their runs alternating (browser, native, browser, native, …) so that both see
 * the same machine load.
 */
async function measurePair({
  origin,
  profileDir,
  model,
  manifest,
  filePath,
  dtype,
  threads,
  runs,
  coldLoad,
  timeoutMs,
}) {
  const browser = await launchChromiumProfile(profileDir);
  const sampler = { peak: null };
  const poll = setInterval(() => {
    const now = rendererPeakRssMiB();
    if (now !== null) sampler.peak = Math.max(sampler.peak ?? 0, now);
  }, 500);
  const web = { runs: [] };
  const native = { runsMs: [] };
  let nativeProcess = null;
  try {
    const page = await browser.newPage();
    page.on('pageerror', (error) => log(`[pageerror] ${error.message}`));
    page.on('crash', () => log('[page crashed]'));
    await page.goto(`${origin}/`);
    const inPage = (fn, arg) =>
      withTimeout(page.evaluate(fn, arg), timeoutMs, `${model.name} in Chromium (${threads} thread(s))`).catch(
        (error) => ({ error: `browser: ${error.message.split('\n')[0]}` }),
      );
    const loaded = await inPage(pageLoad, {
      manifestUrl: `/${path.basename(model.dir)}/manifest.json`,
      dtype,
      threads,
      coldLoad,
    });
    Object.assign(web, loaded);
    nativeProcess = startNative({ file: filePath, manifest, threads });
    const ready = await nativeProcess.next(timeoutMs);
    if (ready.error) native.error = ready.error;
    else native.sessionMs = ready.sessionMs;
    for (let k = 0; k <= runs; k++) {
      // k = 0: warm-up of both
      if (!web.error) {
        const timing = await inPage(pageRun);
        if (timing.error) web.error = timing.error;
        else if (k === 0) web.warmupMs = timing.inferenceMs;
        else web.runs.push(timing);
      }
      if (!native.error) {
        nativeProcess.send('run');
        const answer = await nativeProcess.next(timeoutMs);
        if (answer.error) native.error = answer.error;
        else if (k === 0) native.warmupMs = answer.ms;
        else native.runsMs.push(answer.ms);
      }
    }
    if (!web.error || web.info) {
      const finished = await inPage(pageFinish, { warmLoad: coldLoad && !web.error });
      web.longTasksMs = finished.longTasksMs ?? [];
      web.warm = finished.warm;
    }
    if (!native.error) {
      nativeProcess.send('end');
      const last = await nativeProcess.next(timeoutMs);
      native.peakRssMiB = last.peakRssMiB ?? null;
    }
  } catch (error) {
    web.error ??= `browser: ${error.message.split('\n')[0]}`;
  } finally {
    clearInterval(poll);
    web.rendererPeakRssMiB = Math.max(sampler.peak ?? 0, rendererPeakRssMiB() ?? 0) || null;
    nativeProcess?.stop();
    await browser.close().catch(() => {});
  }
  return { web, native };
}

/** In the page: one engine per variant (forced), the same slice for all. */
async function pageLoadVariants({ manifestUrl, dtypes, threads }) {
  const { createEngine } = await import('/clue/engine-harness.js');
  const values = new Float32Array(256 * 240);
  for (let i = 0; i < values.length; i++) values[i] = ((i * 2654435761) >>> 0) % 1000;
  window.__variants = { slice: { values, width: 256, height: 240 }, engines: {} };
  const out = { infos: {} };
  try {
    for (const dtype of dtypes) {
      const engine = await createEngine({ manifestUrl, dtype, backends: { maxThreads: threads } });
      window.__variants.engines[dtype] = engine;
      out.infos[dtype] = { backend: engine.info.backend, threads: engine.info.threads, variant: engine.info.variant };
    }
  } catch (error) {
    out.error = `load: ${error.code ? `${error.code}: ` : ''}${error.message ?? error}`;
  }
  return out;
}

async function pageRunVariant(dtype) {
  try {
    const { timings } = await window.__variants.engines[dtype].run(window.__variants.slice);
    return timings;
  } catch (error) {
    return { error: `run ${dtype}: ${error.code ? `${error.code}: ` : ''}${error.message ?? error}` };
  }
}

async function pageDisposeVariants() {
  for (const engine of Object.values(window.__variants?.engines ?? {})) engine.dispose();
  return true;
}

/**
 * The variants of one model **interleaved**: one page holding an engine per variant and one
 * onnxruntime-node process per variant, runs in turn (float32 browser, float32 native, int8
 * browser, int8 native, float32 …), so that every variant sees the same machine load. On a
 * shared machine the separate per-variant measurements above are minutes apart and their
 * load differs; these rows are the ones to compare variants by ('inference-interleaved').
 */
async function measureVariantsInterleaved({ model, dtypes, threads, runs, distDir, profileDir, timeoutMs }) {
  const manifest = JSON.parse(readFileSync(path.join(model.dir, 'manifest.json'), 'utf8'));
  const files = Object.fromEntries(dtypes.map((d) => [d, manifest.files.find((f) => f.dtype === d)]));
  const { server, origin } = await serve({ distDir, root: path.dirname(model.dir), isolated: true });
  const browser = await launchChromiumProfile(profileDir);
  const natives = {};
  const web = Object.fromEntries(dtypes.map((d) => [d, []]));
  const native = Object.fromEntries(dtypes.map((d) => [d, []]));
  const errors = {};
  const load = loadAverage();
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const inPage = (fn, arg) =>
      withTimeout(page.evaluate(fn, arg), timeoutMs, `${model.name} variants in Chromium`).catch((error) => ({
        error: `browser: ${error.message.split('\n')[0]}`,
      }));
    const loaded = await inPage(pageLoadVariants, {
      manifestUrl: `/${path.basename(model.dir)}/manifest.json`,
      dtypes,
      threads,
    });
    if (loaded.error) errors.browser = loaded.error;
    for (const dtype of dtypes) {
      natives[dtype] = startNative({ file: path.join(model.dir, files[dtype].path), manifest, threads });
      const ready = await natives[dtype].next(timeoutMs);
      if (ready.error) errors[dtype] = ready.error;
    }
    for (let k = 0; k <= runs; k++) {
      for (const dtype of dtypes) {
        if (!errors.browser) {
          const timing = await inPage(pageRunVariant, dtype);
          if (timing.error) errors.browser = timing.error;
          else if (k > 0) web[dtype].push(timing.inferenceMs);
        }
        if (!errors[dtype]) {
          natives[dtype].send('run');
          const answer = await natives[dtype].next(timeoutMs);
          if (answer.error) errors[dtype] = answer.error;
          else if (k > 0) native[dtype].push(answer.ms);
        }
      }
    }
    await inPage(pageDisposeVariants);
  } finally {
    for (const n of Object.values(natives)) n.stop();
    await browser.close().catch(() => {});
    server.close();
  }
  const context = {
    model: model.name,
    interleaved: dtypes,
    load_average: [load[0], loadAverage()[0]],
    note: `variants interleaved run by run (${dtypes.join(', ')}), same page and load`,
  };
  const records = [];
  for (const dtype of dtypes) {
    const nativeMedian = native[dtype].length ? median(native[dtype]) : null;
    records.push(
      record({
        name: 'inference-interleaved',
        backend: 'wasm',
        threads,
        median_ms: web[dtype].length ? median(web[dtype]) : null,
        runs: web[dtype].length,
        baseline_ms: nativeMedian,
        dtype,
        file: path.relative(repoRoot, path.join(model.dir, files[dtype].path)),
        model_bytes: files[dtype].bytes,
        runs_ms: web[dtype].map((x) => round(x)),
        ...context,
        ...(errors.browser ? { error: errors.browser } : {}),
      }),
      record({
        name: 'inference-interleaved',
        backend: 'onnxruntime-node',
        threads,
        median_ms: nativeMedian,
        runs: native[dtype].length,
        dtype,
        file: path.relative(repoRoot, path.join(model.dir, files[dtype].path)),
        model_bytes: files[dtype].bytes,
        runs_ms: native[dtype].map((x) => round(x)),
        ...context,
        ...(errors[dtype] ? { error: errors[dtype] } : {}),
      }),
    );
  }
  log(
    `${model.name}, ${threads} thread(s), interleaved: ` +
      dtypes.map((d) => `${d} browser ${round(median(web[d]))} ms / node ${round(median(native[d]))} ms`).join('; '),
  );
  return records;
}

// --- records
/**
 * WebGPU executed on Chromium's software adapter (SwiftShader; launched with
 * --enable-unsafe-webgpu, no --disable-gpu): whether the WebGPU path runs and how long it takes
 * there. A software rasteriser on the CPU — correctness, not speed; no GPU figure comes from it.
 */
async function measureSoftwareWebgpu({ origin, model, dtype, runs, timeoutMs, base }) {
  const note = 'software adapter (SwiftShader) — correctness, not speed';
  const browser = await launchChromium({ webgpu: true });
  const load = loadAverage();
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    const inPage = (fn, arg) =>
      withTimeout(page.evaluate(fn, arg), timeoutMs, `${model.name} on WebGPU (software)`).catch((error) => ({
        error: `browser: ${error.message.split('\n')[0]}`,
      }));
    const loaded = await inPage(pageLoad, {
      manifestUrl: `/${path.basename(model.dir)}/manifest.json`,
      dtype,
      threads: 1,
      coldLoad: false,
      allowSoftwareGpu: true,
    });
    const context = { ...base, software_adapter: true, note };
    if (loaded.error || loaded.info?.backend !== 'webgpu') {
      const why = loaded.error ?? `the engine chose ${loaded.info?.backend} (${JSON.stringify(loaded.info?.skipped)})`;
      return [
        record({
          name: 'inference',
          backend: 'webgpu',
          runs: 0,
          error: why,
          ...context,
          note: `${note}; not executed: ${why}`,
        }),
      ];
    }
    const times = [];
    for (let k = 0; k <= runs; k++) {
      const timing = await inPage(pageRun);
      if (timing.error)
        return [
          record({
            name: 'inference',
            backend: 'webgpu',
            runs: 0,
            error: timing.error,
            ...context,
            note: `${note}; ${timing.error}`,
          }),
        ];
      if (k > 0) times.push(timing.inferenceMs);
    }
    log(`${model.name}: WebGPU on the software adapter, median ${round(median(times))} ms (${note})`);
    return [
      record({
        name: 'inference',
        backend: 'webgpu',
        median_ms: median(times),
        runs: times.length,
        ...context,
        runs_ms: times.map((x) => round(x)),
        load_average: [load[0], loadAverage()[0]],
        session_ms: round(loaded.load.sessionMs),
      }),
    ];
  } finally {
    await browser.close();
  }
}

function record(fields) {
  return {
    name: fields.name,
    model: fields.model,
    backend: fields.backend,
    threads: fields.threads ?? null,
    median_ms: round(fields.median_ms),
    runs: fields.runs ?? 0,
    baseline_ms: round(fields.baseline_ms),
    ratio:
      fields.ratio === undefined
        ? fields.median_ms && fields.baseline_ms
          ? round(fields.median_ms / fields.baseline_ms, 2)
          : null
        : fields.ratio,
    ...Object.fromEntries(
      Object.entries(fields).filter(
        ([k]) => !['name', 'model', 'backend', 'threads', 'median_ms', 'runs', 'baseline_ms', 'ratio'].includes(k),
      ),
    ),
  };
}

async function benchModel({ model, dtype, options, distDir, profileDir, records }) {
  const manifest = JSON.parse(readFileSync(path.join(model.dir, 'manifest.json'), 'utf8'));
  // The engine is forced to this variant (createEngine's variant option); native runs the same file.
  const file = manifest.files.find((f) => f.dtype === dtype);
  const filePath = path.join(model.dir, file.path);
  const sizeGiB = file.bytes / 1024 ** 3;
  // Files over 1 GiB (the real-size L/14) get fewer timed runs (--large-runs), said per record.
  const runs = file.bytes > 1024 ** 3 ? Math.min(options.runs, options.largeRuns) : options.runs;
  // Generous bounds, so a stuck run ends that measurement and not the bench.
  const timeoutFor = (threads) => Math.round((90 + sizeGiB * 300 + (runs + 1) * sizeGiB * 40) * 1000 * (2 / threads));
  const base = {
    model: model.name,
    file: path.relative(repoRoot, filePath),
    model_bytes: file.bytes,
    dtype: file.dtype,
  };
  let webgpuReported = false;
  // One server (one origin) for all thread counts: Cache Storage is per origin, so the second
  // browser session finds the model the first one cached.
  const { server, origin } = await serve({ distDir, root: path.dirname(model.dir), isolated: true });
  try {
    for (const [index, threads] of options.threads.entries()) {
      const load = loadAverage();
      log(
        `${model.name}: Chromium and onnxruntime-node, ${threads} thread(s), ${runs} runs each (load average ${load.join(' ')})`,
      );
      const { web: browser, native } = await measurePair({
        origin,
        profileDir,
        model,
        manifest,
        filePath,
        dtype,
        threads,
        runs,
        coldLoad: index === 0,
        timeoutMs: timeoutFor(threads),
      });
      const loadAfter = loadAverage();
      const context = { ...base, load_average: [load[0], loadAfter[0]] };

      const nativeMedian = native.runsMs.length ? median(native.runsMs) : null;
      if (browser.info && !webgpuReported) {
        for (const skip of browser.info.skipped.filter((s) => s.backend !== 'wasm')) {
          // Said of the Chromium the WASM rows ran in (--disable-gpu); WebGPU's own row on the
          // software adapter follows the thread counts.
          records.push(
            record({
              name: 'inference',
              model: model.name,
              backend: skip.backend,
              threads: null,
              runs: 0,
              unavailable: `${skip.reason}${skip.backend === 'webgpu' ? " (in the WASM rows' Chromium, launched with --disable-gpu)" : ''}`,
            }),
          );
        }
        webgpuReported = true;
      }
      const backend = browser.info?.backend ?? 'wasm';
      if (browser.runs?.length) {
        records.push(
          record({
            name: 'inference',
            backend,
            threads: browser.info.threads,
            median_ms: median(browser.runs.map((t) => t.inferenceMs)),
            runs: browser.runs.length,
            baseline_ms: nativeMedian,
            ...context,
            runs_ms: browser.runs.map((t) => round(t.inferenceMs)),
            warmup_ms: round(browser.warmupMs),
            preprocess_ms: round(median(browser.runs.map((t) => t.preprocessMs)), 2),
            postprocess_ms: round(median(browser.runs.map((t) => t.postprocessMs)), 2),
            slice_total_ms: round(median(browser.runs.map((t) => t.totalMs))),
            main_thread_long_tasks_ms: browser.longTasksMs.map((x) => round(x)),
          }),
        );
      } else {
        const error = browser.error ? `${browser.error.stage}: ${browser.error.message}` : 'no runs';
        records.push(
          record({ name: 'inference', backend, threads, runs: 0, baseline_ms: nativeMedian, error, ...context }),
        );
      }
      records.push(
        record({
          name: 'inference',
          backend: 'onnxruntime-node',
          threads,
          median_ms: nativeMedian,
          runs: native.runsMs?.length ?? 0,
          ...context,
          ...(native.error
            ? { error: native.error }
            : { runs_ms: native.runsMs.map((x) => round(x)), warmup_ms: round(native.warmupMs) }),
        }),
      );
      if (browser.load) {
        records.push(
          record({
            name: browser.load.fromCache ? 'load-warm' : 'load-cold',
            backend,
            threads,
            median_ms: browser.load.totalMs,
            runs: 1,
            baseline_ms: native.sessionMs ?? null,
            ...context,
            fetch_verify_ms: round(browser.load.loadMs),
            session_ms: round(browser.load.sessionMs),
            network_bytes: browser.load.networkBytes,
            cache_problem: browser.load.cacheProblem,
            note: `${browser.load.fromCache ? 'new browser session on the same profile, model from Cache Storage' : 'Cache Storage emptied first'}; baseline: onnxruntime-node session creation from the file on disk (no fetch, no sha256)`,
          }),
        );
      }
      if (browser.warm && !browser.warm.error) {
        records.push(
          record({
            name: 'load-warm',
            backend,
            threads,
            median_ms: browser.warm.totalMs,
            runs: 1,
            baseline_ms: native.sessionMs ?? null,
            ...context,
            fetch_verify_ms: round(browser.warm.loadMs),
            session_ms: round(browser.warm.sessionMs),
            from_cache: browser.warm.fromCache,
            network_bytes: browser.warm.networkBytes,
            note: 'same page, engine created again (runtime already compiled), model from Cache Storage; baseline: onnxruntime-node session creation from the file on disk (no fetch, no sha256)',
          }),
        );
      }
      records.push(
        record({
          name: 'memory-peak',
          backend,
          threads,
          runs: 1,
          ...context,
          peak_mib: round(browser.rendererPeakRssMiB, 0),
          baseline_peak_mib: round(native.peakRssMiB, 0),
          ratio:
            browser.rendererPeakRssMiB && native.peakRssMiB
              ? round(browser.rendererPeakRssMiB / native.peakRssMiB, 2)
              : null,
          method:
            'Chromium renderer process VmHWM (WASM heap of the engine worker + its pthreads, the model bytes in JS, page); baseline: onnxruntime-node process maxRSS',
          ...(browser.error ? { error: browser.error } : {}),
        }),
      );
      log(
        `${model.name}, ${threads} thread(s): browser ${browser.runs?.length ? round(median(browser.runs.map((t) => t.inferenceMs))) : `failed (${browser.error})`} ms, node ${round(nativeMedian)} ms, renderer peak ${round(browser.rendererPeakRssMiB, 0)} MiB`,
      );
    }
    // WebGPU (software adapter) for the files WebGPU would run: float32 and float16, not int8
    // (its integer kernels run on the CPU there).
    if (dtype !== 'int8') {
      records.push(
        ...(await measureSoftwareWebgpu({
          origin,
          model,
          dtype,
          runs: Math.min(runs, 3),
          timeoutMs: timeoutFor(1),
          base,
        })),
      );
    }
  } finally {
    server.close();
  }
}

// --- the Markdown table
export function markdown(records, sessions) {
  const cell = (v) => (v === null || v === undefined ? '—' : String(v));
  // Merged runs can come from different machines: each session names its own CPU, browser
  // and runtime, and each row names its session, so no figure is read against the wrong CPU.
  const sessionNumber = new Map(sessions.map((m, index) => [m.date, index + 1]));
  const lines = [
    '# Benchmark results',
    '',
    'Sessions (the `run` column of each row):',
    '',
    ...sessions.map(
      (m, index) =>
        `${index + 1}. ${m.date} on ${m.cpu} (${m.cores} cores), ${m.chromium}, onnxruntime-web/-node ${m.ort}: \`${m.command}\``,
    ),
    '',
    'Machines shared with other work: load average per row, 1-minute, before/after.',
    'Each row: the median of its `runs` timed runs, after 1 warm-up.',
    'Inference = `session.run` only (browser: timed in the worker; native: in its own process).',
    'Ratio = browser / native, always from the same run and machine. Regenerate with `npm run bench` (bench/README.md).',
    '',
    '| measurement | model | backend | threads | median ms | runs | onnxruntime-node ms | ratio | load avg | run | notes |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of records) {
    let notes = r.error ?? r.unavailable ?? '';
    if (r.name === 'memory-peak') {
      notes = `${r.peak_mib ?? '—'} MiB renderer peak RSS vs ${r.baseline_peak_mib ?? '—'} MiB native maxRSS${r.error ? `; ${r.error}` : ''}`;
    } else if (r.name.startsWith('load')) {
      notes = `${r.note.split(';')[0]}: fetch/cache+sha256 ${cell(r.fetch_verify_ms)} ms, session ${cell(r.session_ms)} ms, ${r.network_bytes ?? 0} network bytes${r.cache_problem ? `; cache: ${r.cache_problem}` : ''}`;
    } else if (r.name.startsWith('click-to-overlay') || r.software_adapter || r.interleaved) {
      notes = r.note ?? '';
    } else if (r.main_thread_long_tasks_ms) {
      const longest = r.main_thread_long_tasks_ms.length ? Math.max(...r.main_thread_long_tasks_ms) : 0;
      notes = `pre ${cell(r.preprocess_ms)} ms, post ${cell(r.postprocess_ms)} ms; main-thread tasks > 50 ms during runs: ${r.main_thread_long_tasks_ms.length}${longest ? ` (longest ${longest})` : ''}`;
    }
    const loadAvg = r.load_average ? r.load_average.join(' / ') : '';
    lines.push(
      `| ${r.name} | ${r.model}${r.dtype && r.dtype !== 'float32' ? ` [${r.dtype} file]` : ''} | ${r.backend} | ${cell(r.threads)} | ${cell(r.median_ms)} | ${r.runs} | ${cell(r.baseline_ms)} | ${cell(r.ratio)} | ${loadAvg} | ${sessionNumber.get(r.measured) ?? '—'} | ${String(notes).replaceAll('|', '\\|').replaceAll('\n', ' ')} |`,
    );
  }
  lines.push(...variantTable(records, sessionNumber));
  return `${lines.join('\n')}\n`;
}

/**
 * The variants of each model side by side: per slice (the inference median of the rows
 * above) and per series (SERIES_SLICES × that median: extrapolated, not measured).
 */
export function variantTable(records, sessionNumber = new Map()) {
  // The interleaved rows where a model has them (same load for every variant), else the
  // separate per-variant rows.
  const interleavedModels = new Set(records.filter((r) => r.name === 'inference-interleaved').map((r) => r.model));
  const rows = records.filter(
    (r) =>
      r.median_ms &&
      r.dtype &&
      !r.software_adapter &&
      (interleavedModels.has(r.model) ? r.name === 'inference-interleaved' : r.name === 'inference'),
  );
  const groups = new Map();
  for (const r of rows) {
    const key = `${r.model}\u0000${r.backend}\u0000${r.threads ?? '-'}`;
    if (!groups.has(key)) groups.set(key, { model: r.model, backend: r.backend, threads: r.threads, by: {} });
    groups.get(key).by[r.dtype] = r;
  }
  const present = VARIANTS.filter((v) => rows.some((r) => r.dtype === v));
  if (present.length < 2) return [];
  const cell = (v) => (v === null || v === undefined ? '—' : String(v));
  const perSeries = (r) => (r ? round((r.median_ms * SERIES_SLICES) / 1000, 1) : null);
  const others = present.filter((v) => v !== 'float32');
  const out = [
    '',
    '## Model variants side by side',
    '',
    `Per slice: the inference median (ms) of the \`inference-interleaved\` rows above (variants run in turn in one page and one native process each, so they see the same load) where the model has them, else of the \`inference\` rows. Per series: ${SERIES_SLICES} slices × that median (s), **extrapolated**, not measured. Ratio: variant / float32 per slice, same run and thread count.`,
    '',
    `| model | backend | threads | ${present.map((v) => `${v} ms/slice`).join(' | ')} | ${others.map((v) => `${v}/float32`).join(' | ')} | ${present.map((v) => `${v} s/series`).join(' | ')} | run |`,
    `|---|---|---|${present.map(() => '---').join('|')}|${others.map(() => '---').join('|')}|${present.map(() => '---').join('|')}|---|`,
  ];
  for (const g of groups.values()) {
    if (Object.keys(g.by).length < 2) continue;
    const fp32 = g.by.float32;
    const runsOf = [...new Set(Object.values(g.by).map((r) => sessionNumber.get(r.measured) ?? '—'))].join(', ');
    out.push(
      `| ${g.model} | ${g.backend} | ${cell(g.threads)} | ${present.map((v) => cell(g.by[v]?.median_ms)).join(' | ')} | ${others
        .map((v) => cell(fp32 && g.by[v] ? round(g.by[v].median_ms / fp32.median_ms, 2) : null))
        .join(' | ')} | ${present.map((v) => cell(perSeries(g.by[v]))).join(' | ')} | ${runsOf} |`,
    );
  }
  return out;
}

export function writeAtomically(file, text) {
  // --out may name a folder that does not exist yet: create it (mkdir -p) rather than fail
  // after the whole measurement has run.
  mkdirSync(path.dirname(file), { recursive: true });
  const temporary = `${file}.tmp`;
  writeFileSync(temporary, text);
  renameSync(temporary, file);
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const models = options.models.map(resolveModel);
  const work = mkdtempSync(path.join(os.tmpdir(), 'clue-bench-'));
  const records = [];
  try {
    log('building the engine (webpack, production)');
    const distDir = path.join(work, 'dist');
    await buildEngine(distDir);
    const profileDir = path.join(work, 'profile');
    for (const model of models) {
      const listed = new Set(
        JSON.parse(readFileSync(path.join(model.dir, 'manifest.json'), 'utf8')).files.map((f) => f.dtype),
      );
      for (const dtype of options.variants) {
        if (!listed.has(dtype)) {
          log(`${model.name}: its manifest lists no ${dtype} file; skipped`);
          continue;
        }
        await benchModel({ model, dtype, options, distDir, profileDir, records });
        // The next cold load starts from an empty cache anyway; free the disk now.
        rmSync(path.join(profileDir, 'Default', 'Service Worker', 'CacheStorage'), { recursive: true, force: true });
      }
      const dtypes = options.variants.filter((d) => listed.has(d));
      const bytes = JSON.parse(readFileSync(path.join(model.dir, 'manifest.json'), 'utf8'))
        .files.filter((f) => dtypes.includes(f.dtype))
        .reduce((sum, f) => sum + f.bytes, 0);
      // Several engines in one page: only where their files together stay well inside memory.
      if (dtypes.length > 1 && bytes < INTERLEAVE_MAX_BYTES) {
        for (const threads of options.threads) {
          log(
            `${model.name}: variants ${dtypes.join(', ')} interleaved, ${threads} thread(s), ${options.runs} runs each`,
          );
          records.push(
            ...(await measureVariantsInterleaved({
              model,
              dtypes,
              threads,
              runs: options.runs,
              distDir,
              profileDir,
              timeoutMs: 600_000,
            })),
          );
        }
        rmSync(path.join(profileDir, 'Default', 'Service Worker', 'CacheStorage'), { recursive: true, force: true });
      } else if (dtypes.length > 1) {
        log(`${model.name}: variants not interleaved (files ${Math.round(bytes / 2 ** 20)} MiB together ≥ 1 GiB)`);
      }
    }
    if (options.viewer) {
      // The demo model (or its stand-in) in the real viewer: our server, the built bundles.
      const viewerModel = models.find((m) => m.name.startsWith('demo') || m.name.startsWith('tiny')) ?? MODELS.demo();
      log(`viewer: click-to-overlay with ${viewerModel.name}`);
      const bundlesDir = path.join(work, 'bundles');
      cpSync(path.join(repoRoot, 'dist'), bundlesDir, { recursive: true });
      records.push(
        ...(await measureViewer({ model: viewerModel, bundlesDir, runs: options.quick ? 2 : options.runs, log })),
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const chromiumVersion = (() => {
    try {
      return execFileSync(CHROMIUM_PATH, ['--version'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
    } catch {
      return 'Chromium (version unknown)';
    }
  })();
  const ortVersion = JSON.parse(
    readFileSync(path.join(repoRoot, 'node_modules', 'onnxruntime-web', 'package.json'), 'utf8'),
  ).version;
  const meta = {
    date: new Date().toISOString(),
    command: `node bench/run.js ${process.argv.slice(2).join(' ')}`.trim(),
    cpu: os.cpus()[0]?.model ?? 'unknown CPU',
    cores: os.cpus().length,
    chromium: chromiumVersion,
    ort: ortVersion,
    runs: options.runs,
    largeRuns: options.largeRuns,
  };
  for (const r of records) r.measured = meta.date;
  let sessions = [meta];
  let all = records;
  const resultsFile = path.join(options.out, 'results.json');
  if (options.merge && existsSync(resultsFile)) {
    // Keep the earlier records of what this run did not measure again.
    const earlier = JSON.parse(readFileSync(resultsFile, 'utf8'));
    // The demo's stand-in counts as the demo: measuring the real one replaces its records.
    const modelKey = (r) => (r.model.startsWith('tiny (demo stand-in)') ? 'demo' : r.model);
    // A record is replaced only by one of the same measurement, model, backend and thread
    // count: re-measuring 2 threads keeps the 1-thread figures.
    // (and variant: records from before variants were measured are float32 ones).
    const recordKey = (r) => `${r.name}:${modelKey(r)}:${r.dtype ?? 'float32'}:${r.backend}:${r.threads ?? '-'}`;
    const measured = new Set(records.map(recordKey));
    const viewerRan = records.some((r) => r.name.startsWith('click'));
    const kept = (earlier.records ?? []).filter((r) =>
      r.name.startsWith('click') ? !viewerRan : !measured.has(recordKey(r)),
    );
    const keptDates = new Set(kept.map((r) => r.measured));
    sessions = [...(earlier.sessions ?? []).filter((m) => keptDates.has(m.date)), meta];
    all = [...kept, ...records];
  }
  writeAtomically(resultsFile, `${JSON.stringify({ sessions, records: all }, null, 1)}\n`);
  const table = markdown(all, sessions);
  writeAtomically(path.join(options.out, 'results.md'), table);
  console.log(table);
}

// Run only as a program: importing this file (to re-render results.md from results.json
// with `markdown`) measures nothing.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`bench: ${error.message}`);
    process.exit(1);
  });
}
