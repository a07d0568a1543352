// Round trip against a real PACS: Debian's Orthanc + DICOMweb plugin, started by the project's
// own helper (server/orthanc.js). Store a source series, then our SEG and Parametric Map with
// stowRs; read them back with WADO-RS (metadata + the instances themselves). A refused object
// and an unreachable PACS are reported as failures.
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  buildParametricMap,
  buildSegmentation,
  PARAMETRIC_MAP_STORAGE,
  SEGMENTATION_STORAGE,
  sourceSeriesFromInstances,
  StowError,
  stowRs,
  type DicomPart10File,
} from '../../../extension/src/dicom';
import { fakeMrSeries, MR_IMAGE_STORAGE } from './fakeSeries';
import { orthancHelper, orthancMissingReason, SKIP_ALLOWED, type OrthancInstance } from '../orthancHelper';

const orthancMissing = orthancMissingReason();
if (orthancMissing) console.warn(`Orthanc round trip skipped: ${orthancMissing}`);

const MODEL = { id: 'clue-demo-t1-axial', version: '0.1.0', sha256: 'fedcba9876543210'.repeat(4) };

/** Splits a multipart/related answer into its parts' bodies. */
function multipartParts(body: Uint8Array, contentType: string): Uint8Array[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) throw new Error(`no boundary in ${contentType}`);
  const text = Buffer.from(body).toString('latin1');
  return text
    .split(`--${boundary}`)
    .slice(1, -1)
    .map((part) => {
      const start = part.indexOf('\r\n\r\n') + 4;
      const end = part.endsWith('\r\n') ? part.length - 2 : part.length;
      return new Uint8Array(Buffer.from(part.slice(start, end), 'latin1'));
    });
}

describe.skipIf(SKIP_ALLOWED && orthancMissing !== null)('round trip through Orthanc (STOW-RS, WADO-RS)', () => {
  let orthanc: OrthancInstance;
  beforeAll(async () => {
    orthanc = await orthancHelper.startOrthanc({ timeoutMs: 30000 });
  }, 40000);
  afterAll(async () => {
    await orthanc?.stop();
  });

  it('stores the source, the SEG and the Parametric Map, and reads them back', async () => {
    const fake = fakeMrSeries({ slices: 3 });
    const source = sourceSeriesFromInstances(fake.instances);
    const sourceFiles: DicomPart10File[] = fake.files.map((f) => ({
      data: f.data,
      sopClassUID: MR_IMAGE_STORAGE,
      sopInstanceUID: f.sopInstanceUID,
      seriesInstanceUID: source.seriesInstanceUID,
      studyInstanceUID: source.studyInstanceUID,
    }));
    const storedSource = await stowRs(orthanc.dicomWebUrl, sourceFiles);
    expect(storedSource.instances.map((i) => i.status)).toEqual(['stored', 'stored', 'stored']);

    const pixels = fake.rows * fake.columns;
    const masks = source.images.map((_, k) =>
      Uint8Array.from({ length: pixels }, (_, i) => (k === 1 && i % 3 === 0 ? 1 : 0)),
    );
    const maps = source.images.map((_, k) => Float32Array.from({ length: pixels }, (_, i) => (i % 17) / 16 + k * 0.01));
    const seg = buildSegmentation({ source, frames: masks, model: MODEL, threshold: 0.5 });
    const map = buildParametricMap({ source, frames: maps, model: MODEL, threshold: 0.5 });
    const result = await stowRs(orthanc.dicomWebUrl, [seg, map], undefined, {
      studyInstanceUID: source.studyInstanceUID,
    });
    expect(result.httpStatus).toBe(200);
    expect(result.allStored).toBe(true);
    expect(result.instances.map((i) => i.sopInstanceUID)).toEqual([seg.sopInstanceUID, map.sopInstanceUID]);

    // WADO-RS metadata: the PACS knows both as objects of the source's study, referencing it.
    for (const [object, sopClass] of [
      [seg, SEGMENTATION_STORAGE],
      [map, PARAMETRIC_MAP_STORAGE],
    ] as const) {
      const response = await fetch(
        `${orthanc.dicomWebUrl}/studies/${source.studyInstanceUID}/series/${object.seriesInstanceUID}/metadata`,
        { headers: { Accept: 'application/dicom+json' } },
      );
      expect(response.status).toBe(200);
      const [metadata] = (await response.json()) as Record<string, { Value?: any[] }>[];
      expect(metadata!['00080016']!.Value![0]).toBe(sopClass);
      expect(metadata!['00080018']!.Value![0]).toBe(object.sopInstanceUID);
      const referencedSeries = metadata!['00081115']!.Value![0] as Record<string, { Value: unknown[] }>;
      expect(referencedSeries['0020000E']!.Value[0]).toBe(source.seriesInstanceUID);
    }

    // WADO-RS instance retrieval: the Parametric Map's floats come back bit for bit.
    const instanceResponse = await fetch(
      `${orthanc.dicomWebUrl}/studies/${source.studyInstanceUID}/series/${map.seriesInstanceUID}/instances/${map.sopInstanceUID}`,
      { headers: { Accept: 'multipart/related; type="application/dicom"' } },
    );
    expect(instanceResponse.status).toBe(200);
    const [part] = multipartParts(
      new Uint8Array(await instanceResponse.arrayBuffer()),
      instanceResponse.headers.get('content-type')!,
    );
    const buffer = part!.buffer.slice(part!.byteOffset, part!.byteOffset + part!.byteLength) as ArrayBuffer;
    const dataset = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dcmjs.data.DicomMessage.readFile(buffer).dict);
    const floats = new Float32Array((dataset.FloatPixelData as ArrayBuffer[])[0]!);
    maps.forEach((frame, k) => expect(floats.subarray(k * pixels, (k + 1) * pixels)).toEqual(frame));
  }, 60000);

  it('an object the PACS refuses is reported as failed, never stored', async () => {
    const notDicom: DicomPart10File = {
      data: new TextEncoder().encode('this is not a DICOM file').buffer as ArrayBuffer,
      sopClassUID: SEGMENTATION_STORAGE,
      sopInstanceUID: '2.25.1234567',
      seriesInstanceUID: '2.25.1',
      studyInstanceUID: '2.25.2',
    };
    const result = await stowRs(orthanc.dicomWebUrl, [notDicom]);
    console.log(`Orthanc's answer to a non-DICOM part: HTTP ${result.httpStatus}, ${result.instances[0]!.reason}`);
    expect(result.allStored).toBe(false);
    expect(result.instances[0]!.status).toBe('failed');
  });

  it('an unreachable PACS is a clear StowError', async () => {
    const port = await orthancHelper.freePort();
    await expect(
      stowRs(`http://127.0.0.1:${port}/dicom-web`, [
        {
          data: new ArrayBuffer(2),
          sopClassUID: '1',
          sopInstanceUID: '2',
          seriesInstanceUID: '3',
          studyInstanceUID: '4',
        },
      ]),
    ).rejects.toThrow(StowError);
  });
});
