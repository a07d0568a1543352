// Where the viewer's main-thread time goes when our button is pressed (issue 5: "no main-
// thread task over 50 ms during a run"). A benchmark, not a test: it prints figures.
//
// Our server (embedded demo DICOMweb, built bundles, demo model), the prebuilt OHIF in
// headless Chromium, the T1 axial lesion series. After one warm-up run it presses our
// button on N new slices under Chrome's CPU profiler and prints: our command's own duration
// per click, how many frames the host rendered per click, and the main thread's self time by
// owner (our bundle, the host's bundles, the canvas copy, idle/program), with the callers
// of the canvas copy.
//
// Usage: node bench/viewer-main-thread.mjs [clicks]     (after `npx webpack`)
import { loadSettings } from '../server/config.js';
import { createClueServer } from '../server/server.js';
import { launchChromium } from '../tests/e2e/lib/chromium.js';
import { displayedImage, jumpToSop } from '../tests/e2e/lib/page-state.js';
import { demoSeries } from './viewer.js';

const clicks = Number(process.argv[2] ?? 5);
const { settings } = loadSettings({ overrides: { host: '127.0.0.1', port: 0, dataSource: 'static' } });
const { study, series } = demoSeries(settings.demoDataDir, ['t1']);
const server = await createClueServer(settings);
const { url } = await server.listen();
const browser = await launchChromium();
try {
  const page = await browser.context.newPage();
  await page.goto(`${url}/clue?StudyInstanceUIDs=${study.StudyInstanceUID}`);
  const waitFor = (fn, arg) =>
    page.waitForFunction(fn, arg, { timeout: 120000, polling: 20 }).then((h) => h.jsonValue());
  await waitFor(displayedImage, null);
  const sops = await page.evaluate(() => {
    const s = window.services;
    const vp = s.cornerstoneViewportService.getCornerstoneViewport(s.viewportGridService.getActiveViewportId());
    // Count the frames the host renders on this viewport (Cornerstone's IMAGE_RENDERED).
    window.__framesRendered = 0;
    vp.element.addEventListener('CORNERSTONE_IMAGE_RENDERED', () => {
      window.__framesRendered++;
    });
    return vp.getImageIds().map((id) => window.cornerstone.metaData.get('instance', id)?.SOPInstanceUID);
  });
  const lesion = sops.indexOf(series.lesion.best.sop_instance_uid);
  const button = page.locator('[data-cy="clueRunOnSlice"]');
  const settle = () =>
    page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  async function runAt(position) {
    await page.evaluate(jumpToSop, sops[position]);
    await settle();
    const before = await page.evaluate(() => ({
      runs: window.__clue.getState().modelRuns,
      frames: window.__framesRendered,
    }));
    await button.click();
    const durationMs = await waitFor((runs) => {
      const s = window.__clue.getState();
      return s.status === 'done' && s.modelRuns > runs ? s.lastResult.durationMs : null;
    }, before.runs);
    // The host's frames for this result: wait until no frame is pending (two idle animation frames).
    await settle();
    await settle();
    const frames = (await page.evaluate(() => window.__framesRendered)) - before.frames;
    return { durationMs, frames };
  }
  await runAt(lesion); // loads the model
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 500 });
  await cdp.send('Profiler.start');
  const results = [];
  for (let k = 1; k <= clicks; k++) results.push(await runAt(lesion + (k % 2 ? 1 : -1) * Math.ceil(k / 2)));
  const { profile } = await cdp.send('Profiler.stop');

  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map();
  for (const n of profile.nodes) for (const child of n.children ?? []) parentOf.set(child, n.id);
  const owners = new Map();
  const copyCallers = new Map();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const ms = profile.timeDeltas[i] / 1000;
    total += ms;
    const frame = nodes.get(id).callFrame;
    const owner = /\/plugins\/clue\//.test(frame.url)
      ? 'CLUE extension (ours)'
      : frame.url
        ? `host ${frame.url.split('/').pop()}`
        : frame.functionName;
    owners.set(owner, (owners.get(owner) ?? 0) + ms);
    if (frame.functionName === 'drawImage') {
      const caller = nodes.get(parentOf.get(id))?.callFrame;
      const key = caller ? `${caller.functionName} (${caller.url.split('/').pop()})` : '?';
      copyCallers.set(key, (copyCallers.get(key) ?? 0) + ms);
    }
  });
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`${clicks} clicks on new slices, model loaded:`);
  console.log(
    `  our command (start → labelmap and heatmap written): median ${median(results.map((r) => r.durationMs)).toFixed(0)} ms`,
  );
  console.log(`  frames the host rendered per click: ${results.map((r) => r.frames).join(', ')}`);
  console.log(`  main thread, ${total.toFixed(0)} ms profiled (self time by owner, ms):`);
  for (const [owner, ms] of [...owners.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8))
    console.log(`    ${ms.toFixed(0).padStart(6)}  ${owner}`);
  for (const [caller, ms] of copyCallers)
    console.log(`  drawImage (canvas copy) ${ms.toFixed(0)} ms, called by ${caller}`);
} finally {
  await browser.close();
  server.close();
}
