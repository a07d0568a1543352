// The key of our extension in mode.extensions. The host re-imports every key when the mode's
// route opens, so it must be importable: a URL, not a bare package name (bare names do not
// resolve in the prebuilt viewer). Configurable for deployments that put the bundles
// elsewhere; by default the extension bundle sits next to the mode bundle.

export const EXTENSION_BUNDLE_FILE = 'clue-extension.js';

export function resolveExtensionUrl(appConfig: unknown, modeModuleUrl: string): string {
  const configured = (appConfig as { clue?: { extensionUrl?: unknown } } | undefined)?.clue?.extensionUrl;
  if (typeof configured === 'string' && configured.trim() !== '') return configured;
  return new URL(`./${EXTENSION_BUNDLE_FILE}`, modeModuleUrl).href;
}
