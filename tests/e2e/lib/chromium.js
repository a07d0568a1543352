// Launches Debian's Chromium through playwright-core (never a downloaded browser) with a fresh
// profile, headless, software WebGL (SwiftShader), and no background traffic of its own.
// With `webgpu: true` it also offers WebGPU: without --disable-gpu and with
// --enable-unsafe-webgpu, headless Chromium exposes SwiftShader's software WebGPU adapter
// (isFallbackAdapter, no shader-f16), which the engine uses only when allowed to.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CLUE_CHROMIUM ?? '/usr/bin/chromium';

/** Headless, no sandbox, no GPU, and no traffic of the browser's own (every launch of ours). */
export const QUIET_HEADLESS_FLAGS = Object.freeze([
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]);

/** `flags` with the software WebGPU adapter offered (see the top of this file). */
export function withWebGpu(flags) {
  return [...flags.filter((f) => f !== '--disable-gpu'), '--enable-unsafe-webgpu'];
}

const FLAGS = [
  ...QUIET_HEADLESS_FLAGS,
  '--disable-dev-shm-usage',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
];

export class BrowserMissingError extends Error {}

export function checkChromiumInstalled() {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new BrowserMissingError(
      `${CHROMIUM_PATH}: Chromium is not installed — as root: apt-get install chromium (or run scripts/setup.sh test; CLUE_CHROMIUM overrides the path)`,
    );
  }
}

/**
 * A fresh browser context on a new temporary profile (Playwright takes the profile folder as
 * the persistent-context argument, not as a flag). `webgpu`: offer the software WebGPU adapter
 * (see the top of this file). Returns { context, close() }; close()
 * always ends the browser and removes the profile.
 */
export async function launchChromium({ timeoutMs = 60000, webgpu = false } = {}) {
  checkChromiumInstalled();
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'clue-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: webgpu ? withWebGpu(FLAGS) : FLAGS,
      timeout: timeoutMs,
      viewport: { width: 1400, height: 900 },
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}
