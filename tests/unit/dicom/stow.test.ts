// STOW-RS request building and answer reading, against scripted server answers (the PACS
// is the stand-in here, not the client; tests/unit/dicom/orthanc.test.ts uses a real one).
import { describe, expect, it } from 'vitest';

import { multipartBody, StowError, stowRs, type DicomPart10File } from '../../../extension/src/dicom';

function file(uid: string, bytes: number[]): DicomPart10File {
  return {
    data: Uint8Array.from(bytes).buffer,
    sopClassUID: '1.2.840.10008.5.1.4.1.1.66.4',
    sopInstanceUID: uid,
    seriesInstanceUID: '1.2.3.4',
    studyInstanceUID: '1.2.3',
  };
}

const referenced = (uid: string, extra: Record<string, unknown> = {}) => ({
  '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.66.4'] },
  '00081155': { vr: 'UI', Value: [uid] },
  ...extra,
});

function answering(status: number, body: unknown, seen: { url?: string; init?: RequestInit } = {}) {
  return async (url: string, init: RequestInit) => {
    seen.url = url;
    seen.init = init;
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: { 'Content-Type': 'application/dicom+json' },
    });
  };
}

describe('multipart body', () => {
  it('wraps each file as an application/dicom part between boundaries', () => {
    const body = multipartBody([file('1', [1, 2, 3]), file('2', [4])], 'BOUNDARY');
    const text = Buffer.from(body).toString('latin1');
    expect(text).toBe(
      '--BOUNDARY\r\nContent-Type: application/dicom\r\n\r\n\x01\x02\x03\r\n' +
        '--BOUNDARY\r\nContent-Type: application/dicom\r\n\r\n\x04\r\n--BOUNDARY--\r\n',
    );
  });
});

describe('stowRs', () => {
  it('POSTs multipart/related to {root}/studies and reports each stored instance', async () => {
    const seen: { url?: string; init?: RequestInit } = {};
    const result = await stowRs(
      'http://pacs.example/dicom-web/',
      [file('1.1', [1]), file('1.2', [2])],
      answering(
        200,
        {
          '00081199': {
            vr: 'SQ',
            Value: [referenced('1.1', { '00081190': { vr: 'UR', Value: ['http://pacs/x'] } }), referenced('1.2')],
          },
        },
        seen,
      ),
    );
    expect(seen.url).toBe('http://pacs.example/dicom-web/studies');
    expect(seen.init!.method).toBe('POST');
    const headers = seen.init!.headers as Record<string, string>;
    const boundary = /boundary=(\S+)/.exec(headers['Content-Type']!)![1]!;
    expect(headers['Content-Type']).toBe(`multipart/related; type="application/dicom"; boundary=${boundary}`);
    expect(headers.Accept).toBe('application/dicom+json');
    expect(Buffer.from(seen.init!.body as Uint8Array).toString('latin1')).toContain(`--${boundary}--`);
    expect(result).toEqual({
      httpStatus: 200,
      allStored: true,
      instances: [
        {
          sopInstanceUID: '1.1',
          sopClassUID: '1.2.840.10008.5.1.4.1.1.66.4',
          status: 'stored',
          reason: null,
          retrieveUrl: 'http://pacs/x',
        },
        {
          sopInstanceUID: '1.2',
          sopClassUID: '1.2.840.10008.5.1.4.1.1.66.4',
          status: 'stored',
          reason: null,
          retrieveUrl: null,
        },
      ],
    });
  });

  it('a partly refused store (202) reports the refused instance as failed, with the reason', async () => {
    const result = await stowRs(
      'http://pacs/dw',
      [file('1.1', [1]), file('1.2', [2])],
      answering(202, {
        '00081199': { vr: 'SQ', Value: [referenced('1.1')] },
        '00081198': { vr: 'SQ', Value: [referenced('1.2', { '00081197': { vr: 'US', Value: [43264] } })] },
      }),
    );
    expect(result.allStored).toBe(false);
    expect(result.instances.map((i) => i.status)).toEqual(['stored', 'failed']);
    expect(result.instances[1]!.reason).toBe('the server refused it: error: data set does not match SOP class (A900H)');
  });

  it('an HTTP error fails every instance, even one the body lists as stored', async () => {
    const result = await stowRs(
      'http://pacs/dw',
      [file('1.1', [1])],
      answering(409, { '00081199': { vr: 'SQ', Value: [referenced('1.1')] } }),
    );
    expect(result.allStored).toBe(false);
    expect(result.instances[0]).toMatchObject({ status: 'failed', reason: 'the PACS answered HTTP 409' });
    const forbidden = await stowRs('http://pacs/dw', [file('1.1', [1])], answering(403, 'read-only data source'));
    expect(forbidden.instances[0]!.reason).toBe('the PACS answered HTTP 403: read-only data source');
  });

  it('success status without the instance listed is not "stored"', async () => {
    const result = await stowRs(
      'http://pacs/dw',
      [file('1.1', [1]), file('1.2', [2])],
      answering(200, { '00081199': { vr: 'SQ', Value: [referenced('1.1')] } }),
    );
    expect(result.instances[1]).toMatchObject({
      status: 'failed',
      reason: 'the PACS answered HTTP 200 but did not list this instance as stored',
    });
    const empty = await stowRs('http://pacs/dw', [file('1.1', [1])], answering(200, ''));
    expect(empty.instances[0]!.status).toBe('failed');
  });

  it('a network error is a StowError saying nothing was stored', async () => {
    const failing = async () => {
      throw new TypeError('fetch failed');
    };
    await expect(stowRs('http://pacs/dw', [file('1.1', [1])], failing)).rejects.toThrow(StowError);
    await expect(stowRs('http://pacs/dw', [file('1.1', [1])], failing)).rejects.toThrow(
      'Could not reach the PACS at http://pacs/dw/studies to store 1 object(s): fetch failed. Nothing was stored',
    );
  });

  it('stores into a named study only files of that study', async () => {
    const seen: { url?: string } = {};
    await stowRs('http://pacs/dw', [file('1.1', [1])], answering(200, {}, seen), { studyInstanceUID: '1.2.3' });
    expect(seen.url).toBe('http://pacs/dw/studies/1.2.3');
    await expect(
      stowRs('http://pacs/dw', [file('1.1', [1])], answering(200, {}), { studyInstanceUID: '9.9' }),
    ).rejects.toThrow(/belongs to study 1\.2\.3, not 9\.9/);
  });
});
