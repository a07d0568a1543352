// The SEG and the Parametric Map built from a small fake MR series: validated by dciodvfy
// (Debian's dicom3tools) and read back with dcmjs (references, frames, float values).
import { existsSync } from 'node:fs';
import dcmjs from 'dcmjs';
import { describe, expect, it } from 'vitest';

import {
  algorithmVersion,
  buildParametricMap,
  buildSegmentation,
  DicomBuildError,
  packBinaryFrames,
  PARAMETRIC_MAP_STORAGE,
  SEGMENTATION_STORAGE,
  sourceSeriesFromInstances,
  type SourceSeries,
} from '../../../extension/src/dicom';
import { DCIODVFY, dciodvfy, fakeMrSeries, MR_IMAGE_STORAGE } from './fakeSeries';

// In CI (CI=true) `npm test` has installed every prerequisite: a missing one must fail, not skip.
const SKIP_ALLOWED = !process.env.CI;

const { DicomMessage, DicomMetaDictionary } = dcmjs.data;

const MODEL = { id: 'clue-demo-t1-axial', version: '0.1.0', sha256: '0123456789abcdef'.repeat(4) };
const CREATED = new Date(Date.UTC(2026, 10, 23, 10, 30, 0, 250));

function readBack(data: ArrayBuffer): Record<string, any> {
  return DicomMetaDictionary.naturalizeDataset(DicomMessage.readFile(data).dict) as Record<string, any>;
}

function makeCase(slices = 4) {
  const fake = fakeMrSeries({ slices });
  const source = sourceSeriesFromInstances(fake.instances);
  const pixels = fake.rows * fake.columns;
  // A blob on the middle slices, nothing on the first: an empty frame must survive too.
  const masks = source.images.map((_, k) =>
    Uint8Array.from({ length: pixels }, (_, i) =>
      k > 0 && i % fake.columns > 3 && i % fake.columns < 9 && i > 30 ? 1 : 0,
    ),
  );
  const maps = source.images.map((_, k) =>
    Float32Array.from({ length: pixels }, (_, i) => Math.sin(i * 0.37 + k) * 0.5 + 0.25),
  );
  return { fake, source, masks, maps };
}

function validate(data: ArrayBuffer, name: string, iod: string): void {
  const lines = dciodvfy(data, name);
  // Printed so the run shows the validator's words (warnings included).
  console.log(`dciodvfy ${name}:\n  ${lines.join('\n  ')}`);
  expect(lines[0]).toBe(iod);
  expect(lines.filter((line) => line.startsWith('Error'))).toEqual([]);
}

describe('source series from host metadata', () => {
  it('reads geometry, UIDs and patient/study attributes (PN objects included)', () => {
    const fake = fakeMrSeries({ slices: 2 });
    const instances = fake.instances.map((inst) => ({ ...inst, PatientName: [{ Alphabetic: 'Test^Patient' }] }));
    const source = sourceSeriesFromInstances(instances);
    expect(source.images).toHaveLength(2);
    expect(source.images[1]).toMatchObject({
      sopClassUID: MR_IMAGE_STORAGE,
      rows: 12,
      columns: 16,
      imagePositionPatient: [-10, -12.5, 32.5],
      pixelSpacing: [0.9, 1.1],
      sliceThickness: 2.5,
    });
    expect(source.patientStudy).toMatchObject({
      PatientName: 'Test^Patient',
      PatientID: 'CLUE-TEST-1',
      AccessionNumber: 'ACC-CLUE-1',
    });
    expect(source.modality).toBe('MR');
  });

  it('names the instance and attribute that is missing', () => {
    const fake = fakeMrSeries({ slices: 2 });
    const broken = fake.instances.map((inst, k) => (k === 1 ? { ...inst, ImagePositionPatient: undefined } : inst));
    expect(() => sourceSeriesFromInstances(broken)).toThrow(
      new RegExp(`instance ${fake.instances[1]!.SOPInstanceUID as string}: ImagePositionPatient must be 3 numbers`),
    );
    expect(() => sourceSeriesFromInstances([])).toThrow(DicomBuildError);
  });
});

describe('DICOM SEG', () => {
  it('packs bits LSB first, frame after frame, padded to even length', () => {
    const packed = packBinaryFrames(
      [Uint8Array.from([1, 0, 0, 0, 0, 0, 0, 1, 1]), Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 1, 1])],
      9,
    );
    // Bits 0,7,8 then frame 2 bits 9+7=16, 17.
    expect(Array.from(packed)).toEqual([0b10000001, 0b00000001, 0b00000011, 0]);
  });

  it.skipIf(SKIP_ALLOWED && !existsSync(DCIODVFY))('passes dciodvfy with no errors', () => {
    const { source, masks } = makeCase();
    const seg = buildSegmentation({ source, frames: masks, model: MODEL, threshold: 0.5, createdAt: CREATED });
    validate(seg.data, 'seg.dcm', 'Segmentation');
  });

  it('reads back: references, segment, algorithm identification, frames', () => {
    const { source, masks } = makeCase();
    const seg = buildSegmentation({ source, frames: masks, model: MODEL, threshold: 0.5, createdAt: CREATED });
    const ds = readBack(seg.data);
    expect(ds.SOPClassUID).toBe(SEGMENTATION_STORAGE);
    expect(ds.SOPInstanceUID).toBe(seg.sopInstanceUID);
    expect(ds.SeriesInstanceUID).toBe(seg.seriesInstanceUID);
    expect(ds.SeriesInstanceUID).not.toBe(source.seriesInstanceUID);
    expect(ds.StudyInstanceUID).toBe(source.studyInstanceUID);
    expect(ds.FrameOfReferenceUID).toBe(source.frameOfReferenceUID);
    expect(ds.PatientID).toBe('CLUE-TEST-1');
    expect(ds.Modality).toBe('SEG');
    expect(ds.SegmentationType).toBe('BINARY');
    expect(ds.NumberOfFrames).toBe(4);
    expect(ds.ContentDate).toBe('20261123');

    const segment = ds.SegmentSequence[0] ?? ds.SegmentSequence;
    expect(segment.SegmentLabel).toBe('CLUE anomaly');
    expect(segment.SegmentAlgorithmType).toBe('AUTOMATIC');
    expect(segment.SegmentAlgorithmName).toBe('CLUE');
    const algorithm =
      segment.SegmentationAlgorithmIdentificationSequence[0] ?? segment.SegmentationAlgorithmIdentificationSequence;
    expect(algorithm.AlgorithmName).toBe('CLUE');
    expect(algorithm.AlgorithmVersion).toBe(algorithmVersion(MODEL));
    expect(algorithm.AlgorithmVersion).toMatch(/^0\.1\.0 sha256:0123456789abcdef/);
    expect(algorithm.AlgorithmParameters).toContain(`model_sha256=${MODEL.sha256}`);
    expect(algorithm.AlgorithmParameters).toContain('threshold=0.5');
    const family = algorithm.AlgorithmFamilyCodeSequence[0] ?? algorithm.AlgorithmFamilyCodeSequence;
    expect(family).toMatchObject({ CodeValue: '123110', CodingSchemeDesignator: 'DCM' });

    const referenced = ds.ReferencedSeriesSequence[0] ?? ds.ReferencedSeriesSequence;
    expect(referenced.SeriesInstanceUID).toBe(source.seriesInstanceUID);
    expect(referenced.ReferencedInstanceSequence.map((r: any) => r.ReferencedSOPInstanceUID)).toEqual(
      source.images.map((im) => im.sopInstanceUID),
    );

    const perFrame: any[] = ds.PerFrameFunctionalGroupsSequence;
    expect(perFrame).toHaveLength(4);
    perFrame.forEach((frame, k) => {
      const derivation = frame.DerivationImageSequence[0] ?? frame.DerivationImageSequence;
      const sourceImage = derivation.SourceImageSequence[0] ?? derivation.SourceImageSequence;
      expect(sourceImage.ReferencedSOPInstanceUID).toBe(source.images[k]!.sopInstanceUID);
      expect(sourceImage.ReferencedSOPClassUID).toBe(MR_IMAGE_STORAGE);
      const position = frame.PlanePositionSequence[0] ?? frame.PlanePositionSequence;
      expect(position.ImagePositionPatient).toEqual([...source.images[k]!.imagePositionPatient]);
      const content = frame.FrameContentSequence[0] ?? frame.FrameContentSequence;
      expect(content.DimensionIndexValues).toEqual([1, k + 1]);
    });

    // Unpack the bits and compare with the masks, frame by frame.
    const bits = new Uint8Array(ds.PixelData[0]);
    const pixels = source.images[0]!.rows * source.images[0]!.columns;
    masks.forEach((mask, k) => {
      const frame = Uint8Array.from({ length: pixels }, (_, i) => {
        const bit = k * pixels + i;
        return (bits[bit >>> 3]! >> (bit & 7)) & 1;
      });
      expect(frame).toEqual(mask.map((v) => (v ? 1 : 0)));
    });
    expect(masks[0]!.every((v) => v === 0)).toBe(true); // the empty frame is kept
    expect(masks[1]!.some((v) => v === 1)).toBe(true);
  });

  it('refuses frames that do not match the source', () => {
    const { source, masks } = makeCase(3);
    expect(() => buildSegmentation({ source, frames: masks.slice(1), model: MODEL, threshold: 0.5 })).toThrow(
      '2 mask frames for 3 source images',
    );
    expect(() =>
      buildSegmentation({ source, frames: [masks[0]!, masks[1]!, new Uint8Array(5)], model: MODEL, threshold: 0.5 }),
    ).toThrow('mask frame 2 has 5 pixels, the source image 12×16');
    const mixed: SourceSeries = {
      ...source,
      images: [source.images[0]!, { ...source.images[1]!, rows: 10 }, source.images[2]!],
    };
    expect(() => buildSegmentation({ source: mixed, frames: masks, model: MODEL, threshold: 0.5 })).toThrow(
      /differ in size/,
    );
  });
});

describe('DICOM Parametric Map', () => {
  it.skipIf(SKIP_ALLOWED && !existsSync(DCIODVFY))('passes dciodvfy with no errors', () => {
    const { source, maps } = makeCase();
    const map = buildParametricMap({ source, frames: maps, model: MODEL, threshold: 0.5, createdAt: CREATED });
    validate(map.data, 'map.dcm', 'ParametricMap');
  });

  it('reads back: float values, real-world value mapping, references', () => {
    const { source, maps } = makeCase();
    const map = buildParametricMap({ source, frames: maps, model: MODEL, threshold: 0.5, createdAt: CREATED });
    const ds = readBack(map.data);
    expect(ds.SOPClassUID).toBe(PARAMETRIC_MAP_STORAGE);
    expect(ds.Modality).toBe('MR');
    expect(ds.BitsAllocated).toBe(32);
    expect(ds.NumberOfFrames).toBe(4);
    expect(ds.PixelData).toBeUndefined();
    const floats = new Float32Array(ds.FloatPixelData[0]);
    const pixels = source.images[0]!.rows * source.images[0]!.columns;
    expect(floats.length).toBe(4 * pixels);
    maps.forEach((frame, k) => expect(floats.subarray(k * pixels, (k + 1) * pixels)).toEqual(frame));

    const shared = ds.SharedFunctionalGroupsSequence[0] ?? ds.SharedFunctionalGroupsSequence;
    const rwvm = shared.RealWorldValueMappingSequence[0] ?? shared.RealWorldValueMappingSequence;
    const all = maps.flatMap((m) => Array.from(m));
    expect(rwvm.DoubleFloatRealWorldValueFirstValueMapped).toBe(Math.min(...all));
    expect(rwvm.DoubleFloatRealWorldValueLastValueMapped).toBe(Math.max(...all));
    expect(rwvm.RealWorldValueSlope).toBe(1);
    expect(rwvm.RealWorldValueIntercept).toBe(0);
    expect(rwvm.LUTLabel).toBe('CLUE anomaly');
    const unit = rwvm.MeasurementUnitsCodeSequence[0] ?? rwvm.MeasurementUnitsCodeSequence;
    expect(unit).toMatchObject({ CodeValue: "[arb'U]", CodingSchemeDesignator: 'UCUM' });

    const equipment = ds.ContributingEquipmentSequence[0] ?? ds.ContributingEquipmentSequence;
    expect(equipment.SoftwareVersions).toBe(algorithmVersion(MODEL));
    expect(equipment.ContributionDescription).toContain(`model_sha256=${MODEL.sha256}`);

    const perFrame: any[] = ds.PerFrameFunctionalGroupsSequence;
    perFrame.forEach((frame, k) => {
      const derivation = frame.DerivationImageSequence[0] ?? frame.DerivationImageSequence;
      const sourceImage = derivation.SourceImageSequence[0] ?? derivation.SourceImageSequence;
      expect(sourceImage.ReferencedSOPInstanceUID).toBe(source.images[k]!.sopInstanceUID);
    });
  });

  it('writes frames in ascending position along the normal, whatever order they come in', () => {
    const { source, maps } = makeCase(4);
    const reversed = { ...source, images: [...source.images].reverse() };
    const map = buildParametricMap({ source: reversed, frames: [...maps].reverse(), model: MODEL });
    const ds = readBack(map.data);
    const floats = new Float32Array(ds.FloatPixelData[0]);
    const pixels = source.images[0]!.rows * source.images[0]!.columns;
    const perFrame: any[] = ds.PerFrameFunctionalGroupsSequence;
    perFrame.forEach((frame, k) => {
      // The fake series ascends in z along the +z normal: frame k is source image k again.
      const derivation = frame.DerivationImageSequence[0] ?? frame.DerivationImageSequence;
      const sourceImage = derivation.SourceImageSequence[0] ?? derivation.SourceImageSequence;
      expect(sourceImage.ReferencedSOPInstanceUID).toBe(source.images[k]!.sopInstanceUID);
      const position = frame.PlanePositionSequence[0] ?? frame.PlanePositionSequence;
      expect(position.ImagePositionPatient[2]).toBe(30 + 2.5 * k);
      expect(floats.subarray(k * pixels, (k + 1) * pixels)).toEqual(maps[k]);
    });
  });

  // What OHIF 3.13's Parametric Map loader (@ohif/extension-cornerstone-dicom-pmap with the
  // cornerstone adapters) reads, so the stored map reopens as its overlay: the referenced
  // series, shared pixel measures, one frame per source instance in the volume's order, and an
  // orientation equal to the source's exactly (its orientation check runs with no tolerance).
  it('carries what the host viewer needs to reopen it as an overlay', () => {
    const fake = fakeMrSeries({ slices: 3 });
    const tilted = ['0.9998476951564', '0.0174524064373', '0', '-0.0174524064373', '0.9998476951564', '0'];
    for (const instance of fake.instances) instance.ImageOrientationPatient = tilted;
    const source = sourceSeriesFromInstances(fake.instances);
    const pixels = fake.rows * fake.columns;
    const maps = source.images.map((_, k) => Float32Array.from({ length: pixels }, (_, i) => (i + k) / pixels));
    const ds = readBack(buildParametricMap({ source, frames: maps, model: MODEL }).data);

    const referenced = ds.ReferencedSeriesSequence[0] ?? ds.ReferencedSeriesSequence;
    expect(referenced.SeriesInstanceUID).toBe(source.seriesInstanceUID);
    const listed = (referenced.ReferencedInstanceSequence as any[]).map((r) => r.ReferencedSOPInstanceUID);
    expect(new Set(listed)).toEqual(new Set(source.images.map((im) => im.sopInstanceUID)));
    expect(ds.NumberOfFrames).toBe(source.images.length);
    expect(ds.FrameOfReferenceUID).toBe(source.frameOfReferenceUID);

    const shared = ds.SharedFunctionalGroupsSequence[0] ?? ds.SharedFunctionalGroupsSequence;
    const measures = shared.PixelMeasuresSequence[0] ?? shared.PixelMeasuresSequence;
    expect(measures.PixelSpacing.map(Number)).toEqual([0.9, 1.1]);
    const orientation = shared.PlaneOrientationSequence[0] ?? shared.PlaneOrientationSequence;
    expect(orientation.ImageOrientationPatient.map(Number)).toEqual(tilted.map(Number));

    // Frame k at the k-th position along the normal (the order the host's volume is sorted in).
    const [rx, ry, rz, cx, cy, cz] = tilted.map(Number) as [number, number, number, number, number, number];
    const normal = [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx];
    const along = (ds.PerFrameFunctionalGroupsSequence as any[]).map((frame) => {
      const position = (frame.PlanePositionSequence[0] ?? frame.PlanePositionSequence).ImagePositionPatient.map(Number);
      return position.reduce((sum: number, v: number, a: number) => sum + v * normal[a]!, 0);
    });
    expect([...along].sort((a, b) => a - b)).toEqual(along);
    expect(new Float32Array(ds.FloatPixelData[0]).length).toBe(source.images.length * pixels);
  });

  it('a unit and label given by the caller are recorded', () => {
    const { source, maps } = makeCase(2);
    const map = buildParametricMap({
      source,
      frames: maps,
      model: MODEL,
      label: 'similarity',
      unit: { CodeValue: '1', CodingSchemeDesignator: 'UCUM', CodeMeaning: 'no units' },
    });
    const shared = readBack(map.data).SharedFunctionalGroupsSequence;
    const rwvm = (shared[0] ?? shared).RealWorldValueMappingSequence;
    expect((rwvm[0] ?? rwvm).LUTLabel).toBe('similarity');
    const unit = (rwvm[0] ?? rwvm).MeasurementUnitsCodeSequence;
    expect((unit[0] ?? unit).CodeValue).toBe('1');
  });

  it('refuses non-finite values, naming frame and pixel', () => {
    const { source, maps } = makeCase(2);
    maps[1]![7] = Number.NaN;
    expect(() => buildParametricMap({ source, frames: maps, model: MODEL })).toThrow(
      'map frame 1 has a non-finite value at pixel 7',
    );
  });
});
