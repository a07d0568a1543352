// The model manifest (docs/manifest.md): the one contract with models/. Python writes it
// (models/clue/manifest.py); this file reads and validates it, with the same rules, so a
// manifest the viewer accepts is one the exporter could have written.

export const MANIFEST_SCHEMA = 'clue-manifest/1';

/**
 * The variants a manifest may list (docs/manifest.md § Model variants): float32 (the
 * reference), float16 (float16 weights, float32 compute), int8 (dynamic int8 quantisation).
 * Every variant takes and returns float32 tensors.
 */
export const MODEL_DTYPES = ['float32', 'float16', 'int8'] as const;
export type ModelDtype = (typeof MODEL_DTYPES)[number];

/** A variant measured against the float32 file on validation slices (`clue export` / `clue variants`). */
export interface VariantQuality {
  versus: 'float32';
  /** The validation set's name (never held-out data). */
  eval_set: string;
  slices: number;
  /** Variant − float32; null where it cannot be computed (one class only). */
  pixel_auroc_delta: number | null;
  image_auroc_delta: number | null;
  /** Largest |variant − float32| of the raw anomaly map (model grid). */
  max_abs_map_diff: number;
}

export interface ModelFileEntry {
  /** Relative to the manifest's URL. */
  path: string;
  dtype: ModelDtype;
  bytes: number;
  /** 64 lowercase hex digits. */
  sha256: string;
  /** Variants only (never float32); absent: not measured. */
  quality?: VariantQuality;
}

export interface TensorEntry {
  name: string;
  shape: number[];
  dtype?: string;
}

export interface PreprocessingSpec {
  intensity: {
    method: 'percentile_clip';
    low_percentile: number;
    high_percentile: number;
    foreground: 'greater_than_min';
  };
  square: { method: 'center_pad'; value: number };
  resize: { method: 'bicubic_antialias'; size: number };
  channels: number;
  normalize: { mean: number[]; std: number[] };
}

/** The closed vocabularies of the domain block (same lists as models/clue/manifest.py). */
export const DOMAIN_SEQUENCES = ['T1', 'T1CE', 'T2', 'FLAIR', 'PD', 'DWI'] as const;
export const DOMAIN_PLANES = ['axial', 'sagittal', 'coronal'] as const;
const DOMAIN_FIELDS = ['modality', 'body_part', 'sequences', 'planes', 'pixel_spacing_mm', 'note'];
export type DomainSequence = (typeof DOMAIN_SEQUENCES)[number];
export type DomainPlane = (typeof DOMAIN_PLANES)[number];

/**
 * Where the model was validated (optional; docs/manifest.md § domain). Only `modality` is
 * required; a field left out is not declared, and not checked on slices.
 */
export interface ModelDomain {
  /** DICOM Modality codes, e.g. ["MR"]. */
  modality: string[];
  /** DICOM BodyPartExamined terms, e.g. ["BRAIN", "HEAD"]. */
  body_part?: string[];
  /** MR sequences (weightings) the evaluation supports, e.g. ["T1"]. */
  sequences?: DomainSequence[];
  planes?: DomainPlane[];
  /** [min, max] in mm, for both the row and the column spacing. */
  pixel_spacing_mm?: [number, number];
  note?: string;
}

export interface ClueManifest {
  schema: typeof MANIFEST_SCHEMA;
  id: string;
  version: string;
  files: ModelFileEntry[];
  opset: number;
  input: TensorEntry;
  outputs: { anomaly_map: TensorEntry; layer_maps: TensorEntry; score: TensorEntry };
  layers: number[];
  preprocessing: PreprocessingSpec;
  postprocessing: { to_slice_grid: 'bilinear_uncrop' };
  threshold: { default: number; chosen_on: string };
  provenance: {
    backbone: string;
    backbone_sha256: string | null;
    training_data: string;
    commit: string | null;
    created: string;
    intended_use: string;
    clinical_use: boolean;
  };
  /** Absent in manifests that declare no validated domain (all written before it existed). */
  domain?: ModelDomain;
}

/** A manifest that cannot be used; `problems` names every offending field. */
export class ManifestError extends Error {
  override name = 'ManifestError';
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`${source}: invalid model manifest: ${problems.join('; ')}`);
  }
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * The fields each block may hold (the fields of the dataclasses models/clue/manifest.py builds,
 * in their order, so both sides list them alike). An unknown field is refused: it would be a
 * rule (a preprocessing step, a limit) the viewer silently does not follow.
 */
/** Top-level fields a manifest may leave out (every other field of KNOWN.manifest is required). */
const OPTIONAL_MANIFEST_FIELDS: readonly string[] = ['domain', 'schema'];

const KNOWN = {
  manifest: [
    'id',
    'version',
    'files',
    'opset',
    'input',
    'outputs',
    'layers',
    'preprocessing',
    'postprocessing',
    'threshold',
    'provenance',
    'domain',
    'schema',
  ],
  file: ['path', 'dtype', 'bytes', 'sha256', 'quality'],
  quality: ['versus', 'eval_set', 'slices', 'pixel_auroc_delta', 'image_auroc_delta', 'max_abs_map_diff'],
  input: ['name', 'shape', 'dtype'],
  outputs: ['anomaly_map', 'layer_maps', 'score'],
  // The graph's outputs are float32; a dtype is stated for the input only.
  output: ['name', 'shape'],
  preprocessing: ['intensity', 'square', 'resize', 'channels', 'normalize'],
  intensity: ['method', 'low_percentile', 'high_percentile', 'foreground'],
  square: ['method', 'value'],
  resize: ['method', 'size'],
  normalize: ['mean', 'std'],
  postprocessing: ['to_slice_grid'],
  threshold: ['default', 'chosen_on'],
  provenance: ['backbone', 'backbone_sha256', 'training_data', 'commit', 'created', 'intended_use', 'clinical_use'],
};

/** The problem of a block's unknown fields, or null (not an object: other rules report it). */
function unknownFields(block: unknown, where: string, known: readonly string[]): string | null {
  if (!isObject(block)) return null;
  const unknown = Object.keys(block).filter((key) => !known.includes(key));
  return unknown.length === 0
    ? null
    : `${where} has unknown fields: ${unknown.join(', ')} (known: ${known.join(', ')})`;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isInt = (value: unknown): value is number => Number.isInteger(value);
const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isShape = (value: unknown): value is number[] =>
  Array.isArray(value) && value.length > 0 && value.every((v) => isInt(v) && v > 0);
const sameList = (a: unknown, b: number[]): boolean =>
  Array.isArray(a) && a.length === b.length && a.every((v, i) => v === b[i]);
/** A DICOM code string (CS): upper case, digits, space, underscore; 1 to 16 characters. */
const DICOM_CODE = /^[A-Z0-9_ ]{1,16}$/;
const isDistinctList = (value: unknown, accept: (v: unknown) => boolean): boolean =>
  Array.isArray(value) && value.length > 0 && new Set(value).size === value.length && value.every(accept);
const isCodeList = (value: unknown): boolean =>
  isDistinctList(value, (v) => typeof v === 'string' && DICOM_CODE.test(v) && v.trim() === v);

/** Every problem of a manifest's "domain" block, each naming its field (empty: valid). */
export function domainProblems(domain: unknown): string[] {
  if (!isObject(domain)) return ['domain must be an object'];
  const problems: string[] = [];
  const need = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };
  const unknown = Object.keys(domain).filter((key) => !DOMAIN_FIELDS.includes(key));
  need(unknown.length === 0, `domain has unknown fields: ${unknown.join(', ')} (known: ${DOMAIN_FIELDS.join(', ')})`);
  if ('modality' in domain) {
    need(
      isCodeList(domain.modality),
      'domain.modality must be a non-empty list of distinct DICOM Modality codes (e.g. ["MR"])',
    );
  } else {
    need(false, 'domain.modality is missing');
  }
  if ('body_part' in domain) {
    need(
      isCodeList(domain.body_part),
      'domain.body_part must be a non-empty list of distinct DICOM BodyPartExamined terms (e.g. ["BRAIN", "HEAD"])',
    );
  }
  if ('sequences' in domain) {
    need(
      isDistinctList(domain.sequences, (v) => (DOMAIN_SEQUENCES as readonly unknown[]).includes(v)),
      `domain.sequences must be a non-empty list of distinct names from ${DOMAIN_SEQUENCES.join(', ')}`,
    );
    need(
      !Array.isArray(domain.modality) || domain.modality.includes('MR'),
      'domain.sequences applies to MR only, but domain.modality does not list "MR"',
    );
  }
  if ('planes' in domain) {
    need(
      isDistinctList(domain.planes, (v) => (DOMAIN_PLANES as readonly unknown[]).includes(v)),
      `domain.planes must be a non-empty list of distinct planes from ${DOMAIN_PLANES.join(', ')}`,
    );
  }
  if ('pixel_spacing_mm' in domain) {
    const spacing = domain.pixel_spacing_mm;
    need(
      Array.isArray(spacing) &&
        spacing.length === 2 &&
        spacing.every((v) => isNumber(v) && v > 0) &&
        spacing[0] <= spacing[1],
      'domain.pixel_spacing_mm must be [min, max]: two positive numbers of millimetres with min ≤ max',
    );
  }
  if ('note' in domain) need(typeof domain.note === 'string', 'domain.note must be a string');
  return problems;
}

/** Every problem of a file's "quality" block (same rules and words as models/clue/manifest.py). */
function qualityProblems(quality: unknown, where: string, dtype: unknown): string[] {
  if (!isObject(quality)) return [`${where} must be an object`];
  const problems: string[] = [];
  const need = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };
  const unknown = unknownFields(quality, where, KNOWN.quality);
  if (unknown !== null) problems.push(unknown);
  need(dtype !== 'float32', `${where}: a float32 file is the reference; quality is for the other variants only`);
  need(quality.versus === 'float32', `${where}.versus must be "float32"`);
  need(typeof quality.eval_set === 'string' && quality.eval_set !== '', `${where}.eval_set must be a non-empty string`);
  need(isInt(quality.slices) && quality.slices >= 1, `${where}.slices must be a positive integer`);
  for (const key of ['pixel_auroc_delta', 'image_auroc_delta']) {
    const value = quality[key];
    need(
      value === null || (isNumber(value) && value >= -1 && value <= 1),
      `${where}.${key} must be a number in [-1, 1] or null`,
    );
  }
  const diff = quality.max_abs_map_diff;
  need(isNumber(diff) && diff >= 0, `${where}.max_abs_map_diff must be a number ≥ 0`);
  return problems;
}

/** The problems found in one manifest: `need` records the message of each rule that fails. */
class Problems {
  readonly list: string[] = [];

  need(ok: boolean, message: string): boolean {
    if (!ok) this.list.push(message);
    return ok;
  }

  /** Records fields of `block` that clue-manifest/1 does not define. */
  known(block: unknown, where: string, fields: readonly string[]): void {
    const problem = unknownFields(block, where, fields);
    if (problem !== null) this.list.push(problem);
  }
}

/**
 * Validates parsed JSON as a clue-manifest/1 and returns it typed. Throws ManifestError
 * listing every problem; an unknown `schema` is reported alone (nothing else can be trusted).
 */
export function parseManifest(data: unknown, source = 'manifest.json'): ClueManifest {
  const p = new Problems();
  const fail = (): never => {
    throw new ManifestError(source, p.list);
  };
  if (!p.need(isObject(data), 'the manifest must be a JSON object')) fail();
  const m = data as Json;
  if (!p.need(m.schema === MANIFEST_SCHEMA, `schema must be "${MANIFEST_SCHEMA}", found ${JSON.stringify(m.schema)}`)) {
    fail();
  }
  const missing = KNOWN.manifest.filter((key) => !OPTIONAL_MANIFEST_FIELDS.includes(key) && !(key in m));
  if (!p.need(missing.length === 0, `missing fields: ${missing.join(', ')}`)) fail();
  p.known(m, 'manifest', KNOWN.manifest);

  p.need(typeof m.id === 'string' && m.id !== '', 'id must be a non-empty string');
  p.need(typeof m.version === 'string' && m.version !== '', 'version must be a non-empty string');
  p.need(isInt(m.opset) && m.opset >= 1, 'opset must be a positive integer');
  checkFiles(p, m.files);
  const imageSize = checkInput(p, m.input);
  checkOutputs(p, m, imageSize);
  checkPreprocessing(p, m.preprocessing, imageSize);
  checkPostprocessingAndThreshold(p, m);
  checkProvenance(p, m.provenance);
  // Optional: manifests written before the domain existed stay valid.
  if ('domain' in m) p.list.push(...domainProblems(m.domain));
  if (p.list.length > 0) fail();
  return m as unknown as ClueManifest;
}

function checkFiles(p: Problems, files: unknown): void {
  if (p.need(Array.isArray(files) && files.length > 0, 'files must be a non-empty list')) {
    (files as unknown[]).forEach((entry, index) => {
      const where = `files[${index}]`;
      if (!p.need(isObject(entry), `${where} must be an object`)) return;
      const file = entry as Json;
      p.known(file, where, KNOWN.file);
      const path = file.path;
      p.need(
        typeof path === 'string' &&
          path !== '' &&
          !path.startsWith('/') &&
          !/^[a-z][a-z0-9+.-]*:/i.test(path) &&
          !path.split('/').includes('..'),
        `${where}.path must be a relative path inside the model folder`,
      );
      p.need(
        (MODEL_DTYPES as readonly unknown[]).includes(file.dtype),
        `${where}.dtype must be ${MODEL_DTYPES.map((d) => JSON.stringify(d)).join(' or ')}`,
      );
      p.need(isInt(file.bytes) && file.bytes > 0, `${where}.bytes must be a positive integer`);
      p.need(
        typeof file.sha256 === 'string' && SHA256.test(file.sha256),
        `${where}.sha256 must be 64 lowercase hex digits`,
      );
      // Optional: measured variants only.
      if ('quality' in file) p.list.push(...qualityProblems(file.quality, `${where}.quality`, file.dtype));
    });
  }
}

/** The input block; returns the model's square input size S, or null when the shape is wrong. */
function checkInput(p: Problems, input: unknown): number | null {
  if (!isObject(input)) {
    p.need(false, 'input must be an object');
    return null;
  }
  p.known(input, 'input', KNOWN.input);
  p.need(input.name === 'image', 'input.name must be "image"');
  p.need(input.dtype === 'float32', 'input.dtype must be "float32"');
  const shape = input.shape;
  const square = isShape(shape) && shape.length === 4 && shape[0] === 1 && shape[1] === 3 && shape[2] === shape[3];
  return p.need(square, 'input.shape must be [1, 3, S, S]') ? (shape as number[])[2]! : null;
}

function checkOutputs(p: Problems, m: Json, imageSize: number | null): void {
  const layersOk = p.need(
    Array.isArray(m.layers) && m.layers.length > 0 && m.layers.every((v) => isInt(v) && v >= 1),
    'layers must be a non-empty list of 1-based block numbers',
  );
  if (p.need(isObject(m.outputs), 'outputs must be an object')) {
    const outputs = m.outputs as Json;
    p.known(outputs, 'outputs', KNOWN.outputs);
    let allPresent = true;
    for (const key of ['anomaly_map', 'layer_maps', 'score']) {
      const value = outputs[key];
      if (!isObject(value)) {
        p.need(false, `outputs.${key} is missing`);
        allPresent = false;
        continue;
      }
      const entry: Json = value;
      p.known(entry, `outputs.${key}`, KNOWN.output);
      p.need(typeof entry.name === 'string' && entry.name !== '', `outputs.${key}.name must be a string`);
      p.need(isShape(entry.shape), `outputs.${key}.shape must be a list of positive integers`);
    }
    if (imageSize !== null && allPresent) {
      const s = imageSize;
      p.need(
        sameList((outputs.anomaly_map as Json).shape, [1, s, s]),
        `outputs.anomaly_map.shape must be [1, ${s}, ${s}]`,
      );
      if (layersOk) {
        const n = (m.layers as number[]).length;
        p.need(
          sameList((outputs.layer_maps as Json).shape, [1, n, s, s]),
          `outputs.layer_maps.shape must be [1, ${n}, ${s}, ${s}] (one map per layer)`,
        );
      }
      p.need(sameList((outputs.score as Json).shape, [1]), 'outputs.score.shape must be [1]');
    }
  }
}

function checkPreprocessing(p: Problems, preprocessing: unknown, imageSize: number | null): void {
  if (!isObject(preprocessing)) {
    p.need(false, 'preprocessing must be an object');
    return;
  }
  const pre = preprocessing;
  p.known(pre, 'preprocessing', KNOWN.preprocessing);
  // A sub-block that is not an object is read as {}: each of its rules then names what is missing.
  const intensity = isObject(pre.intensity) ? pre.intensity : {};
  p.known(intensity, 'preprocessing.intensity', KNOWN.intensity);
  p.need(intensity.method === 'percentile_clip', 'preprocessing.intensity.method must be "percentile_clip"');
  const low = intensity.low_percentile;
  const high = intensity.high_percentile;
  p.need(
    isNumber(low) && isNumber(high) && low >= 0 && low < high && high <= 100,
    'preprocessing.intensity percentiles must satisfy 0 ≤ low_percentile < high_percentile ≤ 100',
  );
  p.need(intensity.foreground === 'greater_than_min', 'preprocessing.intensity.foreground must be "greater_than_min"');
  const square = isObject(pre.square) ? pre.square : {};
  p.known(square, 'preprocessing.square', KNOWN.square);
  p.need(
    square.method === 'center_pad' && isNumber(square.value),
    'preprocessing.square must be {method: "center_pad", value: number}',
  );
  const resize = isObject(pre.resize) ? pre.resize : {};
  p.known(resize, 'preprocessing.resize', KNOWN.resize);
  if (
    p.need(
      resize.method === 'bicubic_antialias' && isInt(resize.size) && resize.size > 0,
      'preprocessing.resize must be {method: "bicubic_antialias", size: positive integer}',
    ) &&
    imageSize !== null
  ) {
    p.need(resize.size === imageSize, `preprocessing.resize.size must equal the input size ${imageSize}`);
  }
  p.need(pre.channels === 3, 'preprocessing.channels must be 3');
  const normalize = isObject(pre.normalize) ? pre.normalize : {};
  p.known(normalize, 'preprocessing.normalize', KNOWN.normalize);
  const mean = normalize.mean;
  const std = normalize.std;
  p.need(
    Array.isArray(mean) &&
      mean.length === 3 &&
      mean.every(isNumber) &&
      Array.isArray(std) &&
      std.length === 3 &&
      std.every((v) => isNumber(v) && v > 0),
    'preprocessing.normalize must hold 3 means and 3 positive stds',
  );
}

function checkPostprocessingAndThreshold(p: Problems, m: Json): void {
  p.known(m.postprocessing, 'postprocessing', KNOWN.postprocessing);
  p.need(
    isObject(m.postprocessing) && m.postprocessing.to_slice_grid === 'bilinear_uncrop',
    'postprocessing.to_slice_grid must be "bilinear_uncrop"',
  );
  if (p.need(isObject(m.threshold), 'threshold must be an object')) {
    const threshold = m.threshold as Json;
    p.known(threshold, 'threshold', KNOWN.threshold);
    p.need(
      isNumber(threshold.default) && threshold.default >= 0 && threshold.default <= 1,
      'threshold.default must be a number in [0, 1]',
    );
    p.need(typeof threshold.chosen_on === 'string', 'threshold.chosen_on must be a string');
  }
}

function checkProvenance(p: Problems, provenance: unknown): void {
  if (!isObject(provenance)) {
    p.need(false, 'provenance must be an object');
    return;
  }
  p.known(provenance, 'provenance', KNOWN.provenance);
  for (const key of ['backbone', 'training_data', 'created', 'intended_use']) {
    p.need(typeof provenance[key] === 'string', `provenance.${key} must be a string`);
  }
  const sha = provenance.backbone_sha256;
  // Lowercase, as hashlib writes it and as files[].sha256: one spelling to compare.
  p.need(
    sha === null || (typeof sha === 'string' && SHA256.test(sha)),
    'provenance.backbone_sha256 must be 64 lowercase hex digits or null',
  );
  p.need(
    provenance.commit === null || typeof provenance.commit === 'string',
    'provenance.commit must be a string or null',
  );
  p.need(typeof provenance.clinical_use === 'boolean', 'provenance.clinical_use must be true or false');
}

/** The model file to load: the requested dtype if the manifest lists it, else float32, else the first. */
export function pickModelFile(manifest: ClueManifest, preferred: ModelDtype = 'float32'): ModelFileEntry {
  return (
    manifest.files.find((f) => f.dtype === preferred) ??
    manifest.files.find((f) => f.dtype === 'float32') ??
    manifest.files[0]!
  );
}
