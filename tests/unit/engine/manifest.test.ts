import { describe, expect, it } from 'vitest';
import { ManifestError, parseManifest, pickModelFile } from '../../../extension/src/engine/manifest';

// The manifest of docs/manifest.md, as `clue export` writes it.
function validManifest(): Record<string, any> {
  return {
    schema: 'clue-manifest/1',
    id: 'clue-demo-t1-axial',
    version: '0.1.0',
    files: [
      { path: 'model.onnx', dtype: 'float32', bytes: 1234, sha256: 'a'.repeat(64) },
      { path: 'model.fp16.onnx', dtype: 'float16', bytes: 617, sha256: 'b'.repeat(64) },
    ],
    opset: 17,
    input: { name: 'image', shape: [1, 3, 224, 224], dtype: 'float32' },
    outputs: {
      anomaly_map: { name: 'anomaly_map', shape: [1, 224, 224] },
      layer_maps: { name: 'layer_maps', shape: [1, 4, 224, 224] },
      score: { name: 'score', shape: [1] },
    },
    layers: [3, 6, 9, 12],
    preprocessing: {
      intensity: {
        method: 'percentile_clip',
        low_percentile: 0.5,
        high_percentile: 99.5,
        foreground: 'greater_than_min',
      },
      square: { method: 'center_pad', value: 0.0 },
      resize: { method: 'bicubic_antialias', size: 224 },
      channels: 3,
      normalize: { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] },
    },
    postprocessing: { to_slice_grid: 'bilinear_uncrop' },
    threshold: { default: 0.5, chosen_on: 'validation split, max pixel F1' },
    provenance: {
      backbone: 'ViT-B/16 (OpenAI)',
      backbone_sha256: null,
      training_data: 'demo',
      commit: null,
      created: '2026-11-23T10:00:00+00:00',
      intended_use: 'research',
      clinical_use: false,
    },
  };
}

const problemsOf = (data: unknown): string[] => {
  try {
    parseManifest(data, 'm.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as Error).message).toMatch(/^m\.json: invalid model manifest: /);
    return (error as ManifestError).problems;
  }
  return [];
};

describe('parseManifest', () => {
  it('accepts the documented manifest', () => {
    const manifest = parseManifest(validManifest());
    expect(manifest.id).toBe('clue-demo-t1-axial');
    expect(pickModelFile(manifest).path).toBe('model.onnx');
    expect(pickModelFile(manifest, 'float16').path).toBe('model.fp16.onnx');
  });

  it('rejects an unknown schema before anything else', () => {
    expect(problemsOf({ ...validManifest(), schema: 'clue-manifest/2', id: 5 })).toEqual([
      'schema must be "clue-manifest/1", found "clue-manifest/2"',
    ]);
    expect(problemsOf([1, 2])).toEqual(['the manifest must be a JSON object']);
  });

  it('names every wrong field', () => {
    const data = validManifest();
    data.files[1].sha256 = 'XYZ';
    data.files[0].path = '../../etc/passwd';
    data.input.shape = [1, 3, 224, 200];
    data.preprocessing.resize.method = 'nearest';
    data.threshold.default = 2;
    expect(problemsOf(data)).toEqual([
      'files[0].path must be a relative path inside the model folder',
      'files[1].sha256 must be 64 lowercase hex digits',
      'input.shape must be [1, 3, S, S]',
      'preprocessing.resize must be {method: "bicubic_antialias", size: positive integer}',
      'threshold.default must be a number in [0, 1]',
    ]);
  });

  it('checks output shapes against the input size and the layers', () => {
    const data = validManifest();
    data.layers = [3, 6, 9];
    data.outputs.anomaly_map.shape = [1, 112, 112];
    expect(problemsOf(data)).toEqual([
      'outputs.anomaly_map.shape must be [1, 224, 224]',
      'outputs.layer_maps.shape must be [1, 3, 224, 224] (one map per layer)',
    ]);
  });

  it('lists missing fields and absolute model URLs', () => {
    const data = validManifest();
    delete data.threshold;
    delete data.layers;
    expect(problemsOf(data)).toEqual(['missing fields: layers, threshold']);
    const absolute = validManifest();
    absolute.files[0].path = 'https://elsewhere.example/model.onnx';
    expect(problemsOf(absolute)).toEqual(['files[0].path must be a relative path inside the model folder']);
  });

  it('accepts a validated domain, and a manifest without one (written before it existed)', () => {
    expect(parseManifest(validManifest()).domain).toBeUndefined();
    const domain = {
      modality: ['MR'],
      body_part: ['BRAIN', 'HEAD'],
      sequences: ['T1'],
      planes: ['axial'],
      pixel_spacing_mm: [0.5, 2.0],
      note: 'synthetic lesions in one brain',
    };
    expect(parseManifest({ ...validManifest(), domain }).domain).toEqual(domain);
    // Only the modality is required.
    expect(
      parseManifest({ ...validManifest(), domain: { modality: ['CR', 'DX'], body_part: ['CHEST'] } }).domain?.modality,
    ).toEqual(['CR', 'DX']);
  });

  it.each([
    ['MR brain', 'domain must be an object'],
    [{ body_part: ['BRAIN'] }, 'domain.modality is missing'],
    [{ modality: 'MR' }, 'domain.modality must be a non-empty list of distinct DICOM Modality codes (e.g. ["MR"])'],
    [{ modality: ['mr'] }, 'domain.modality must be a non-empty list of distinct DICOM Modality codes (e.g. ["MR"])'],
    [
      { modality: ['MR', 'MR'] },
      'domain.modality must be a non-empty list of distinct DICOM Modality codes (e.g. ["MR"])',
    ],
    [
      { modality: ['MR'], body_part: ['BRAIN '] },
      'domain.body_part must be a non-empty list of distinct DICOM BodyPartExamined terms (e.g. ["BRAIN", "HEAD"])',
    ],
    [
      { modality: ['MR'], sequences: ['T1W'] },
      'domain.sequences must be a non-empty list of distinct names from T1, T1CE, T2, FLAIR, PD, DWI',
    ],
    [
      { modality: ['CT'], sequences: ['T1'] },
      'domain.sequences applies to MR only, but domain.modality does not list "MR"',
    ],
    [
      { modality: ['MR'], planes: ['transverse'] },
      'domain.planes must be a non-empty list of distinct planes from axial, sagittal, coronal',
    ],
    [
      { modality: ['MR'], pixel_spacing_mm: [2, 0.5] },
      'domain.pixel_spacing_mm must be [min, max]: two positive numbers of millimetres with min ≤ max',
    ],
    [
      { modality: ['MR'], pixel_spacing_mm: [0, 2] },
      'domain.pixel_spacing_mm must be [min, max]: two positive numbers of millimetres with min ≤ max',
    ],
    [{ modality: ['MR'], note: 3 }, 'domain.note must be a string'],
    [
      { modality: ['MR'], bodypart: ['BRAIN'] },
      'domain has unknown fields: bodypart (known: modality, body_part, sequences, planes, pixel_spacing_mm, note)',
    ],
  ])('rejects the domain %j naming its field', (domain, problem) => {
    expect(problemsOf({ ...validManifest(), domain })).toEqual([problem]);
  });
});
