// The validated-domain check (extension/src/workflow/domain.ts) on the attributes the viewer
// reads from real kinds of slices: what is inside, what is outside (and the caution says which
// part and why), and what the attributes do not say (not checked rather than guessed).
import { describe, expect, it } from 'vitest';
import { parseManifest, type ModelDomain } from '../../../extension/src/engine/manifest';
import {
  checkDomain,
  describeDomain,
  describeSliceLine,
  identifySequence,
  outsideFindings,
  slicePlane,
  type DomainCheck,
  type SliceAttributes,
} from '../../../extension/src/domain/domain';

// The demo model's domain as the manifest would declare it.
const DEMO_DOMAIN: ModelDomain = {
  modality: ['MR'],
  body_part: ['BRAIN', 'HEAD'],
  sequences: ['T1'],
  planes: ['axial'],
  pixel_spacing_mm: [0.5, 2.0],
  note: 'synthetic lesions in one brain',
};

const AXIAL = [1, 0, 0, 0, 1, 0];
const SAGITTAL = [0, 1, 0, 0, 0, -1];
const CORONAL = [1, 0, 0, 0, 0, -1];

// The demo generator's T1 axial lesion slice (data/generated/demo/…/01-t1-axial/0068.dcm).
const T1_AXIAL_MR: SliceAttributes = {
  modality: 'MR',
  bodyPartExamined: 'BRAIN',
  seriesDescription: 'T1 axial, synthetic lesion',
  scanningSequence: ['RM'],
  imageOrientationPatient: AXIAL,
  pixelSpacing: [1, 1],
};

const status = (check: DomainCheck) => Object.fromEntries(check.findings.map((f) => [f.field, f.status]));
const outsideFields = (check: DomainCheck) => outsideFindings(check).map((f) => f.field);
const messageOf = (check: DomainCheck, field: string) => check.findings.find((f) => f.field === field)?.message ?? '';

describe('checkDomain', () => {
  it('an in-domain T1 axial MR: every declared field inside, no caution', () => {
    const check = checkDomain(DEMO_DOMAIN, T1_AXIAL_MR);
    expect(check.declared).toBe(true);
    expect(status(check)).toEqual({
      modality: 'inside',
      body_part: 'inside',
      sequence: 'inside',
      plane: 'inside',
      pixel_spacing: 'inside',
    });
    expect(outsideFindings(check)).toEqual([]);
    expect(describeSliceLine(check.slice)).toBe('MR, BRAIN, T1, axial, 1.0 × 1.0 mm');
  });

  it('a CT: outside on modality (and body part), saying it was validated on MR only; no sequence question', () => {
    const check = checkDomain(DEMO_DOMAIN, {
      modality: 'CT',
      bodyPartExamined: 'HEAD',
      seriesDescription: 'Head 5mm',
      imageOrientationPatient: AXIAL,
      pixelSpacing: [0.49, 0.49],
    });
    expect(outsideFields(check)).toEqual(['modality', 'pixel_spacing']);
    expect(messageOf(check, 'modality')).toBe(
      "CT: this model was validated on MR only — it has not learned this modality's intensities; read this map with caution.",
    );
    expect(check.findings.map((f) => f.field)).not.toContain('sequence');
    expect(messageOf(check, 'pixel_spacing')).toMatch(
      /^Pixel spacing 0\.49 × 0\.49 mm: this model was validated on 0\.5–2\.0 mm only — /,
    );
    expect(status(check).body_part).toBe('inside');
  });

  it('a chest X-ray (CR, DX): modality and body part outside; no orientation or PixelSpacing is "not checked", not axial 1 mm', () => {
    for (const modality of ['CR', 'DX']) {
      // Projection radiographs record no ImageOrientationPatient, and DX gives ImagerPixelSpacing, not PixelSpacing.
      const check = checkDomain(DEMO_DOMAIN, { modality, bodyPartExamined: 'CHEST', seriesDescription: 'PA chest' });
      expect(outsideFields(check)).toEqual(['modality', 'body_part']);
      expect(messageOf(check, 'modality')).toContain(`${modality}: this model was validated on MR only`);
      expect(messageOf(check, 'body_part')).toBe(
        'Body part CHEST: this model was validated on BRAIN or HEAD only — it has not learned this anatomy; read this map with caution.',
      );
      expect(status(check)).toMatchObject({ plane: 'not-checked', pixel_spacing: 'not-checked' });
      expect(messageOf(check, 'plane')).toBe('Plane not checked: the slice has no usable ImageOrientationPatient.');
    }
  });

  it('a sagittal MR: outside on the plane only', () => {
    const check = checkDomain(DEMO_DOMAIN, {
      ...T1_AXIAL_MR,
      seriesDescription: 'T1 sagittal, synthetic lesion',
      imageOrientationPatient: SAGITTAL,
    });
    expect(outsideFields(check)).toEqual(['plane']);
    expect(messageOf(check, 'plane')).toBe(
      'Sagittal plane: this model was validated on axial slices only — the anatomy is cut differently from what it learned; read this map with caution.',
    );
    expect(check.slice.plane).toBe('sagittal');
    expect(checkDomain(DEMO_DOMAIN, { ...T1_AXIAL_MR, imageOrientationPatient: CORONAL }).slice.plane).toBe('coronal');
  });

  it('an MR with a sequence outside the list: says which sequence, read from where', () => {
    const t2 = checkDomain(DEMO_DOMAIN, {
      ...T1_AXIAL_MR,
      seriesDescription: 'T2-like (simulated) axial, synthetic lesion',
    });
    expect(outsideFields(t2)).toEqual(['sequence']);
    expect(messageOf(t2, 'sequence')).toMatch(
      /^T2 \(from SeriesDescription “T2-like \(simulated\) axial, synthetic lesion”\): this model was validated on T1 only — the tissue contrast differs/,
    );
    const flair = checkDomain(DEMO_DOMAIN, { ...T1_AXIAL_MR, seriesDescription: 'AX T2 FLAIR' });
    expect(flair.slice.sequence).toBe('FLAIR');
    expect(outsideFields(flair)).toEqual(['sequence']);
    // Post-contrast T1 is its own sequence: outside a T1-only domain, inside one that lists T1CE.
    const postContrast = { ...T1_AXIAL_MR, seriesDescription: 'AX T1 MPRAGE', contrastBolusAgent: 'Gadobutrol' };
    expect(checkDomain(DEMO_DOMAIN, postContrast).slice.sequence).toBe('T1CE');
    expect(outsideFields(checkDomain(DEMO_DOMAIN, postContrast))).toEqual(['sequence']);
    expect(outsideFields(checkDomain({ ...DEMO_DOMAIN, sequences: ['T1', 'T1CE'] }, postContrast))).toEqual([]);
  });

  it('a sequence the attributes do not tell is "not checked", naming what was read', () => {
    const check = checkDomain(DEMO_DOMAIN, { ...T1_AXIAL_MR, seriesDescription: 'Ax 3D', scanningSequence: ['GR'] });
    expect(status(check).sequence).toBe('not-checked');
    expect(outsideFindings(check)).toEqual([]);
    expect(messageOf(check, 'sequence')).toBe(
      'Sequence not checked: SeriesDescription “Ax 3D” names no sequence this check knows (T1, T1CE, T2, FLAIR, PD, DWI) (ScanningSequence GR alone does not tell the weighting).',
    );
    const contradictory = checkDomain(DEMO_DOMAIN, { ...T1_AXIAL_MR, seriesDescription: 'T1 T2 map' });
    expect(contradictory.slice.sequence).toBeNull();
    expect(messageOf(contradictory, 'sequence')).toBe(
      'Sequence not checked: SeriesDescription “T1 T2 map” names both T1 and T2.',
    );
    expect(identifySequence({ seriesDescription: 'T1 T2 PD' }).evidence).toBe(
      'SeriesDescription “T1 T2 PD” names T1, T2 and PD',
    );
    const nothing = checkDomain(DEMO_DOMAIN, { modality: 'MR', imageOrientationPatient: AXIAL, pixelSpacing: [1, 1] });
    expect(messageOf(nothing, 'sequence')).toBe(
      'Sequence not checked: the slice has no SeriesDescription, ProtocolName or SequenceName.',
    );
    expect(messageOf(nothing, 'body_part')).toBe('Body part not checked: the slice has no BodyPartExamined.');
  });

  it('a slightly tilted axial counts as axial; beyond the tolerance it is an oblique plane, outside', () => {
    const tilt = (degrees: number) => {
      const r = (degrees * Math.PI) / 180;
      return [1, 0, 0, 0, Math.cos(r), Math.sin(r)];
    };
    expect(slicePlane(tilt(4))).toMatchObject({ plane: 'axial', nearest: 'axial' });
    const oblique = checkDomain(DEMO_DOMAIN, { ...T1_AXIAL_MR, imageOrientationPatient: tilt(20) });
    expect(oblique.slice.plane).toBe('oblique');
    expect(messageOf(oblique, 'plane')).toMatch(
      /^Oblique plane \(20° from axial; tolerated up to 5°\): this model was validated on axial slices only/,
    );
    expect(slicePlane([0, 0, 0, 0, 1, 0])).toBeNull(); // a zero row direction tells no plane
  });

  it('only declared fields are checked, and a manifest without a domain checks nothing', () => {
    const ct = { modality: 'CT', imageOrientationPatient: SAGITTAL, pixelSpacing: [5, 5] };
    expect(checkDomain({ modality: ['MR'] }, ct).findings.map((f) => f.field)).toEqual(['modality']);
    const undeclared = checkDomain(undefined, ct);
    expect(undeclared).toMatchObject({ declared: false, findings: [] });
    // What the slice is is still described (for the panel).
    expect(describeSliceLine(undeclared.slice)).toBe('CT, body part not recorded, sagittal, 5.0 × 5.0 mm');
  });
});

describe('identifySequence', () => {
  it.each([
    [{ seriesDescription: 'T1 axial, synthetic lesion' }, 'T1'],
    [{ seriesDescription: 'sag t1_mprage' }, 'T1'],
    [{ sequenceName: '*tfl3d1_16ns' }, 'T1'],
    [{ seriesDescription: 'AX T1 POST GAD' }, 'T1CE'],
    [{ seriesDescription: 'T1+C axial' }, 'T1CE'],
    [{ seriesDescription: 'T1 pre contrast' }, 'T1'],
    [{ seriesDescription: 'Ax T2 FSE' }, 'T2'],
    [{ seriesDescription: 'FLAIR-like (simulated) axial' }, 'FLAIR'],
    [{ protocolName: 'ep2d_diff_3scan_trace' }, 'DWI'],
    [{ seriesDescription: 'PD axial' }, 'PD'],
    [{ seriesDescription: 'AX T2* GRE' }, 'T2*'],
  ] as Array<[SliceAttributes, string]>)('%j → %s', (attributes, expected) => {
    expect(identifySequence(attributes).sequence).toBe(expected);
  });

  it('ScanningSequence alone never decides', () => {
    expect(identifySequence({ scanningSequence: ['SE', 'IR'] }).sequence).toBeNull();
  });
});

describe('describeDomain', () => {
  it('one line for the panel, from a manifest that passed validation', () => {
    const manifest = parseManifest({
      schema: 'clue-manifest/1',
      id: 'm',
      version: '1',
      opset: 17,
      files: [{ path: 'model.onnx', dtype: 'float32', bytes: 1, sha256: 'a'.repeat(64) }],
      input: { name: 'image', shape: [1, 3, 8, 8], dtype: 'float32' },
      outputs: {
        anomaly_map: { name: 'a', shape: [1, 8, 8] },
        layer_maps: { name: 'l', shape: [1, 1, 8, 8] },
        score: { name: 's', shape: [1] },
      },
      layers: [1],
      preprocessing: {
        intensity: {
          method: 'percentile_clip',
          low_percentile: 0.5,
          high_percentile: 99.5,
          foreground: 'greater_than_min',
        },
        square: { method: 'center_pad', value: 0 },
        resize: { method: 'bicubic_antialias', size: 8 },
        channels: 3,
        normalize: { mean: [0, 0, 0], std: [1, 1, 1] },
      },
      postprocessing: { to_slice_grid: 'bilinear_uncrop' },
      threshold: { default: 0.5, chosen_on: 'x' },
      provenance: {
        backbone: 'b',
        backbone_sha256: null,
        training_data: 't',
        commit: null,
        created: 'c',
        intended_use: 'i',
        clinical_use: false,
      },
      domain: DEMO_DOMAIN,
    });
    expect(describeDomain(manifest.domain!)).toBe('MR, body part BRAIN or HEAD, T1, axial, pixel spacing 0.5–2.0 mm');
    expect(describeDomain({ modality: ['CR', 'DX'], planes: ['axial', 'coronal'] })).toBe('CR or DX, axial or coronal');
  });
});
