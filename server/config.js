// The server's settings: one object, built from defaults, then an optional JSON config file,
// then environment variables, then command-line flags (later wins). Nothing is read from URL
// query strings: the browser only ever sees the app-config.js generated from these settings.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// One place for the pinned host version in JavaScript (scripts/setup.sh holds the shell copy).
export const OHIF_APP_VERSION = '3.13.2';
// Every host version setup fetches and e2e runs on (the default first); scripts/setup.sh
// holds the shell copy. `npm start` keeps the default unless --viewer-dir says otherwise.
export const OHIF_APP_VERSIONS = Object.freeze([OHIF_APP_VERSION, '3.12.10', '3.14.0-beta.6']);

/** The prebuilt viewer of one host version, as setup unpacks it (relative to the repo). */
export function ohifViewerDir(version) {
  return `.cache/ohif-app-${version}/package/dist`;
}

/** URL prefix under which the server serves `bundlesDir` (our dist/). */
export const BUNDLES_PREFIX = '/plugins/clue/';

/** Defaults, with every path relative to the repository root. */
export const DEFAULTS = Object.freeze({
  host: '127.0.0.1',
  port: 3000,
  // Where the studies come from:
  //   'static'   — our server answers DICOMweb itself from the files under `staticDicomDir`
  //                (the embedded default: no PACS needed);
  //   'dicomweb' — our server proxies /dicom-web/ to `pacsUrl`, the PACS's DICOMweb root
  //                (QIDO-RS/WADO-RS, e.g. Orthanc's http://127.0.0.1:8042/dicom-web), and
  //                /wado to `pacsWadoUriUrl` when set (WADO-URI, e.g. …:8042/wado).
  dataSource: 'static',
  pacsUrl: '',
  pacsWadoUriUrl: '',
  viewerDir: ohifViewerDir(OHIF_APP_VERSION),
  bundlesDir: 'dist',
  demoDataDir: 'data/generated/demo',
  staticDicomDir: 'data/generated/demo/dicom',
  modelsDir: 'models/artifacts',
  // Same-origin by default; an absolute URL is allowed for a separate model server.
  modelUrl: '/models/demo/manifest.json',
  // Where the bundles are served (BUNDLES_PREFIX): not under /clue/, which is the mode's
  // route (docs/deploy.md uses the same layout).
  extensionUrl: '/plugins/clue/clue-extension.js',
  modeUrl: '/plugins/clue/clue-mode.js',
});

const ENV_KEYS = {
  CLUE_HOST: 'host',
  CLUE_PORT: 'port',
  CLUE_DATA_SOURCE: 'dataSource',
  CLUE_PACS_URL: 'pacsUrl',
  CLUE_PACS_WADO_URI_URL: 'pacsWadoUriUrl',
  CLUE_VIEWER_DIR: 'viewerDir',
  CLUE_BUNDLES_DIR: 'bundlesDir',
  CLUE_DEMO_DATA_DIR: 'demoDataDir',
  CLUE_STATIC_DICOM_DIR: 'staticDicomDir',
  CLUE_MODELS_DIR: 'modelsDir',
  CLUE_MODEL_URL: 'modelUrl',
};

const FLAG_KEYS = {
  '--host': 'host',
  '--port': 'port',
  '--data-source': 'dataSource',
  '--pacs-url': 'pacsUrl',
  '--pacs-wado-uri-url': 'pacsWadoUriUrl',
  '--viewer-dir': 'viewerDir',
  '--bundles-dir': 'bundlesDir',
  '--demo-data-dir': 'demoDataDir',
  '--static-dicom-dir': 'staticDicomDir',
  '--models-dir': 'modelsDir',
  '--model-url': 'modelUrl',
};

export class ConfigError extends Error {}

/**
 * Parses `--flag value` / `--flag=value` pairs. Returns the settings overrides plus the
 * flags this module does not own (for the caller, e.g. start.js's `--pacs`).
 */
export function parseFlags(argv, extraFlags = []) {
  const overrides = {};
  const extra = {};
  let configFile;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const known = name in FLAG_KEYS || name === '--config' || extraFlags.includes(name);
    if (!known) throw new ConfigError(`unknown option ${name} (see server/README.md)`);
    let value;
    if (eq > 0) value = arg.slice(eq + 1);
    else {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`option ${name} needs a value`);
    }
    if (name === '--config') configFile = value;
    else if (name in FLAG_KEYS) overrides[FLAG_KEYS[name]] = value;
    else extra[name.slice(2)] = value;
  }
  return { overrides, extra, configFile };
}

function readConfigFile(file) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read config file (${err.code ?? err.message})`);
  }
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid JSON (${err.message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`${file}: expected a JSON object of settings`);
  }
  for (const key of Object.keys(parsed)) {
    if (!(key in DEFAULTS)) {
      throw new ConfigError(`${file}: unknown setting "${key}" (known: ${Object.keys(DEFAULTS).join(', ')})`);
    }
  }
  return parsed;
}

/**
 * Builds validated settings. `overrides` (e.g. from tests) win over everything else.
 * Paths are resolved against the repository root.
 */
export function loadSettings({ argv = [], env = process.env, overrides = {}, extraFlags = [] } = {}) {
  const flags = parseFlags(argv, extraFlags);
  const configFile = flags.configFile ?? env.CLUE_CONFIG;
  const fromFile = configFile ? readConfigFile(path.resolve(configFile)) : {};
  const fromEnv = {};
  for (const [envKey, key] of Object.entries(ENV_KEYS)) {
    if (env[envKey] !== undefined && env[envKey] !== '') fromEnv[key] = env[envKey];
  }
  const merged = { ...DEFAULTS, ...fromFile, ...fromEnv, ...flags.overrides, ...overrides };
  return { settings: validate(merged), extra: flags.extra };
}

/** An http(s) URL without a trailing slash, or a ConfigError naming the setting. */
function httpUrl(name, value) {
  let parsed;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name}: not a URL: "${value}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new ConfigError(`${name}: expected http(s), got "${parsed.protocol}"`);
  }
  if (parsed.search || parsed.hash) throw new ConfigError(`${name}: must not carry a query or fragment: "${value}"`);
  return parsed.href.replace(/\/+$/, '');
}

function validate(s) {
  const port = Number(s.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`port: expected an integer 0..65535 (0 = any free port), got "${s.port}"`);
  }
  if (s.dataSource !== 'static' && s.dataSource !== 'dicomweb') {
    throw new ConfigError(`dataSource: expected "static" or "dicomweb", got "${s.dataSource}"`);
  }
  let pacsUrl = '';
  let pacsWadoUriUrl = '';
  if (s.dataSource === 'dicomweb') {
    if (!s.pacsUrl) {
      throw new ConfigError(
        'pacsUrl: required when dataSource is "dicomweb" (the DICOMweb root, e.g. http://127.0.0.1:8042/dicom-web)',
      );
    }
    pacsUrl = httpUrl('pacsUrl', s.pacsUrl);
    if (s.pacsWadoUriUrl) pacsWadoUriUrl = httpUrl('pacsWadoUriUrl', s.pacsWadoUriUrl);
  }
  const resolved = (p) => path.resolve(REPO_ROOT, p);
  return Object.freeze({
    host: String(s.host),
    port,
    dataSource: s.dataSource,
    pacsUrl,
    pacsWadoUriUrl,
    viewerDir: resolved(s.viewerDir),
    bundlesDir: resolved(s.bundlesDir),
    demoDataDir: resolved(s.demoDataDir),
    staticDicomDir: resolved(s.staticDicomDir),
    modelsDir: resolved(s.modelsDir),
    modelUrl: String(s.modelUrl),
    extensionUrl: String(s.extensionUrl),
    modeUrl: String(s.modeUrl),
  });
}
