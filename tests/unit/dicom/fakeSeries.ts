// A small, realistic MR source series built in the test: Part-10 files (so Orthanc and
// dciodvfy can read them) plus their naturalized metadata (what OHIF hands the viewer).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import dcmjs from 'dcmjs';

const { DicomDict, DicomMetaDictionary } = dcmjs.data;

export const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';

export interface FakeSeries {
  instances: Record<string, unknown>[];
  files: { sopInstanceUID: string; data: ArrayBuffer }[];
  rows: number;
  columns: number;
}

let counter = 0;
/** Unique UIDs under a fixed 2.25 root (the per-run stamp keeps reruns against one PACS apart). */
export function testUid(): string {
  counter += 1;
  return `2.25.4242${Date.now() % 1e9}${process.pid % 1000}${counter}`;
}

export function fakeMrSeries({ slices = 4, rows = 12, columns = 16 } = {}): FakeSeries {
  const study = testUid();
  const series = testUid();
  const frameOfReference = testUid();
  const instances: Record<string, unknown>[] = [];
  const files: FakeSeries['files'] = [];
  for (let k = 0; k < slices; k++) {
    const sop = testUid();
    const pixels = new Uint16Array(rows * columns);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37 + k * 101) % 1000;
    const instance: Record<string, unknown> = {
      SpecificCharacterSet: 'ISO_IR 192',
      SOPClassUID: MR_IMAGE_STORAGE,
      SOPInstanceUID: sop,
      StudyDate: '20261123',
      StudyTime: '101500',
      SeriesDate: '20261123',
      ContentDate: '20261123',
      ContentTime: '101500',
      AccessionNumber: 'ACC-CLUE-1',
      Modality: 'MR',
      Manufacturer: 'CLUE test',
      ReferringPhysicianName: 'Referrer^Ruth',
      StudyDescription: 'CLUE unit test study',
      SeriesDescription: 'T1 axial',
      PatientName: 'Test^Patient',
      PatientID: 'CLUE-TEST-1',
      PatientBirthDate: '19700101',
      PatientSex: 'O',
      ScanningSequence: 'GR',
      SequenceVariant: 'SP',
      ScanOptions: '',
      MRAcquisitionType: '2D',
      PatientPosition: 'HFS',
      Laterality: '',
      EchoTime: '5',
      EchoTrainLength: '1',
      RepetitionTime: '20',
      SliceThickness: '2.5',
      StudyInstanceUID: study,
      SeriesInstanceUID: series,
      StudyID: 'S1',
      SeriesNumber: '3',
      InstanceNumber: String(k + 1),
      ImagePositionPatient: ['-10', '-12.5', String(30 + 2.5 * k)],
      ImageOrientationPatient: ['1', '0', '0', '0', '1', '0'],
      FrameOfReferenceUID: frameOfReference,
      PositionReferenceIndicator: '',
      ImageType: ['ORIGINAL', 'PRIMARY', 'OTHER'],
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: rows,
      Columns: columns,
      PixelSpacing: ['0.9', '1.1'],
      BitsAllocated: 16,
      BitsStored: 12,
      HighBit: 11,
      PixelRepresentation: 0,
      PixelData: [pixels.buffer],
      _vrMap: { PixelData: 'OW' },
    };
    const dict = new DicomDict({
      '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
      '00020002': { vr: 'UI', Value: [MR_IMAGE_STORAGE] },
      '00020003': { vr: 'UI', Value: [sop] },
      '00020010': { vr: 'UI', Value: ['1.2.840.10008.1.2.1'] },
      '00020012': { vr: 'UI', Value: ['2.25.157283651249386510745672893420718903291'] },
    });
    dict.dict = DicomMetaDictionary.denaturalizeDataset(instance);
    files.push({ sopInstanceUID: sop, data: dict.write() });
    const metadata = { ...instance };
    delete metadata.PixelData;
    delete metadata._vrMap;
    instances.push(metadata);
  }
  return { instances, files, rows, columns };
}

export const DCIODVFY = '/usr/bin/dciodvfy';

/** Runs dciodvfy on one file; returns its output lines (it reports on stderr). */
export function dciodvfy(data: ArrayBuffer, name: string): string[] {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'clue-dciodvfy-'));
  try {
    const file = path.join(dir, name);
    writeFileSync(file, new Uint8Array(data));
    const run = spawnSync(DCIODVFY, ['-new', file], { encoding: 'utf8' });
    if (run.error) throw run.error;
    return `${run.stdout}${run.stderr}`.split('\n').filter((line) => line.trim() !== '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
