// Stock vs fused onnxruntime-web on one model, two pages of one headless Chromium, runs
// interleaved so machine load hits both alike; prints medians and the outputs' difference.
import { serve, launchChromium } from '../../tests/unit/engine/browser/harness.mjs';
const site = process.argv[2];
const model = 'model.onnx';
const runs = Number(process.argv[3] ?? 5);
const threads = Number(process.argv[4] ?? 2);
const { server, origin } = await serve({ distDir: site, root: site, isolated: true });
const browser = await launchChromium();
const context = await browser.newContext();
const pages = {};
for (const variant of ['stock', 'fma']) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log('[pageerror]', variant, e.message));
  page.on('console', (m) => { if (m.type() === 'error') console.log('[console]', variant, m.text()); });
  await page.goto(`${origin}/`);
  const info = await page.evaluate(async ({ variant, model, threads }) => {
    const ort = await import('/ort.mjs');
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.wasmPaths = { mjs: '/ort-wasm-simd-threaded.jsep.mjs', wasm: `/${variant}/ort-wasm-simd-threaded.jsep.wasm` };
    const t0 = performance.now();
    window.session = await ort.InferenceSession.create(`/${model}`, { executionProviders: ['wasm'] });
    const size = 224;
    const data = new Float32Array(3 * size * size);
    let s = 1; for (let i = 0; i < data.length; i++) { s = (s * 16807) % 2147483647; data[i] = (s / 2147483647) * 4 - 2; }
    window.feeds = { image: new ort.Tensor('float32', data, [1, 3, size, size]) };
    window.runOnce = async () => { const t = performance.now(); const out = await window.session.run(window.feeds); return { ms: performance.now() - t, map: Array.from(out.anomaly_map.data.slice(0, 50000)), score: out.score.data[0] }; };
    return { crossOriginIsolated, createMs: performance.now() - t0 };
  }, { variant, model, threads });
  console.log(variant, info);
  pages[variant] = page;
}
const times = { stock: [], fma: [] };
let last = {};
for (let i = 0; i < runs + 1; i++) {
  for (const variant of ['stock', 'fma']) {
    const r = await pages[variant].evaluate(() => window.runOnce());
    if (i > 0) times[variant].push(r.ms);
    last[variant] = r;
  }
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
let diff = 0; for (let i = 0; i < last.stock.map.length; i++) diff = Math.max(diff, Math.abs(last.stock.map[i] - last.fma.map[i]));
console.log(`${model} threads ${threads}: stock median ${med(times.stock).toFixed(0)} ms, fma median ${med(times.fma).toFixed(0)} ms, speed-up ${(med(times.stock) / med(times.fma)).toFixed(2)}x; max map diff ${diff.toExponential(2)}, score ${last.stock.score} vs ${last.fma.score}`);
console.log(JSON.stringify(times));
await browser.close(); server.close();
