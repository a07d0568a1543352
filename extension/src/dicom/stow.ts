// STOW-RS (PS3.18 10.5): store Part-10 files with one multipart/related; type="application/dicom"
// POST to {root}/studies. The answer is read per instance: an instance counts as stored only
// when the server lists it in ReferencedSOPSequence (0008,1199) and the HTTP status is a
// success; anything else (listed as failed, not listed, HTTP error, no readable answer) is
// reported as failed with the reason. Nothing half-stored is ever reported as stored.
import type { DicomPart10File } from './common';

export class StowError extends Error {
  override name = 'StowError';
}

export interface StowInstanceResult {
  sopInstanceUID: string;
  sopClassUID: string;
  status: 'stored' | 'failed';
  /** Why it failed (or a server warning for a stored one); null when nothing was said. */
  reason: string | null;
  /** WADO-RS URL the server gave for a stored instance (0008,1190), when it gave one. */
  retrieveUrl: string | null;
}

export interface StowResult {
  httpStatus: number;
  /** True only when every instance was stored. */
  allStored: boolean;
  instances: StowInstanceResult[];
}

export interface StowOptions {
  /** Store into this study (POST {root}/studies/{uid}); the files must belong to it. */
  studyInstanceUID?: string;
  /** Extra request headers (e.g. the data source's Authorization). */
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

const TAG = {
  failedSopSequence: '00081198',
  referencedSopSequence: '00081199',
  referencedSopClassUid: '00081150',
  referencedSopInstanceUid: '00081155',
  failureReason: '00081197',
  warningReason: '00081196',
  retrieveUrl: '00081190',
} as const;

type DicomJson = Record<string, { vr?: string; Value?: unknown[] }>;

function randomBoundary(): string {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  return `clue-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** The multipart/related body: each file as an application/dicom part. */
export function multipartBody(files: readonly DicomPart10File[], boundary: string): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const file of files) {
    parts.push(encoder.encode(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
    parts.push(new Uint8Array(file.data));
    parts.push(encoder.encode('\r\n'));
  }
  parts.push(encoder.encode(`--${boundary}--\r\n`));
  const body = new Uint8Array(parts.reduce((sum, p) => sum + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    body.set(part, offset);
    offset += part.byteLength;
  }
  return body;
}

function firstString(item: DicomJson, tag: string): string | null {
  const value = item[tag]?.Value?.[0];
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null;
}

function sequence(response: DicomJson | null, tag: string): DicomJson[] {
  const value = response?.[tag]?.Value;
  return Array.isArray(value) ? (value as DicomJson[]) : [];
}

/** Failure reasons of PS3.18 Table I.2-1 worth a word; others are shown as their code. */
function describeFailure(code: string | null): string {
  const known: Record<string, string> = {
    '272': 'processing failure (0110H)',
    '290': 'referenced SOP class not supported (0122H)',
    '42752': 'refused: out of resources (A700H)',
    '43264': 'error: data set does not match SOP class (A900H)',
    '49152': 'error: cannot understand (C000H)',
  };
  if (code === null) return 'the server listed it as failed without a reason';
  return `the server refused it: ${known[code] ?? `failure reason ${code}`}`;
}

/**
 * Stores the files with one STOW-RS request and reports each instance. Throws StowError only
 * when no answer came at all (network error, aborted); an HTTP error is a result in which every
 * instance failed, with the status and the server's words as the reason.
 */
export async function stowRs(
  dicomwebRoot: string,
  files: readonly DicomPart10File[],
  fetchImpl: FetchLike = (input, init) => fetch(input, init),
  options: StowOptions = {},
): Promise<StowResult> {
  if (files.length === 0) return { httpStatus: 0, allStored: true, instances: [] };
  if (options.studyInstanceUID) {
    const other = files.find((f) => f.studyInstanceUID !== options.studyInstanceUID);
    if (other)
      throw new StowError(
        `${other.sopInstanceUID} belongs to study ${other.studyInstanceUID}, not ${options.studyInstanceUID}`,
      );
  }
  const root = dicomwebRoot.replace(/\/+$/, '');
  const url = options.studyInstanceUID ? `${root}/studies/${options.studyInstanceUID}` : `${root}/studies`;
  const boundary = randomBoundary();
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method: 'POST',
      headers: {
        ...options.headers,
        'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        Accept: 'application/dicom+json',
      },
      body: multipartBody(files, boundary),
      signal: options.signal,
    });
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new StowError(
      `Could not reach the PACS at ${url} to store ${files.length} object(s): ${detail}. Nothing was stored; the result is kept for another try.`,
    );
  }

  const text = await response.text().catch(() => '');
  const answer = parseAnswer(text);
  const stored = instancesIn(answer, TAG.referencedSopSequence);
  const failed = instancesIn(answer, TAG.failedSopSequence);
  const httpOk = response.status === 200 || response.status === 202;
  const httpReason = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${
    answer === null && text ? `: ${text.slice(0, 200)}` : ''
  }`;

  const instances = files.map((file) => instanceResult(file, stored, failed, httpOk, httpReason));
  return { httpStatus: response.status, allStored: instances.every((i) => i.status === 'stored'), instances };
}

/** The response dataset, or null when the body is not DICOM JSON. */
function parseAnswer(text: string): DicomJson | null {
  try {
    const parsed: unknown = text ? JSON.parse(text) : null;
    // Some servers wrap the single response dataset in an array.
    const answer = (Array.isArray(parsed) ? parsed[0] : parsed) as DicomJson | null;
    return answer !== null && typeof answer === 'object' ? answer : null;
  } catch {
    return null;
  }
}

/** The items of a response sequence (referenced or failed SOPs), by SOP Instance UID. */
function instancesIn(answer: DicomJson | null, tag: string): Map<string, DicomJson> {
  const byUid = new Map<string, DicomJson>();
  for (const item of sequence(answer, tag)) {
    const uid = firstString(item, TAG.referencedSopInstanceUid);
    if (uid) byUid.set(uid, item);
  }
  return byUid;
}

/** What the answer says of one file: stored (maybe with a warning) or failed, and why. */
function instanceResult(
  file: DicomPart10File,
  stored: Map<string, DicomJson>,
  failed: Map<string, DicomJson>,
  httpOk: boolean,
  httpReason: string,
): StowInstanceResult {
  const base = { sopInstanceUID: file.sopInstanceUID, sopClassUID: file.sopClassUID };
  const failure = failed.get(file.sopInstanceUID);
  if (failure) {
    return {
      ...base,
      status: 'failed',
      reason: describeFailure(firstString(failure, TAG.failureReason)),
      retrieveUrl: null,
    };
  }
  const success = stored.get(file.sopInstanceUID);
  if (success && httpOk) {
    const warning = firstString(success, TAG.warningReason);
    return {
      ...base,
      status: 'stored',
      reason: warning ? `stored with warning ${warning}` : null,
      retrieveUrl: firstString(success, TAG.retrieveUrl),
    };
  }
  if (!httpOk) return { ...base, status: 'failed', reason: `the PACS answered ${httpReason}`, retrieveUrl: null };
  return {
    ...base,
    status: 'failed',
    reason: `the PACS answered ${httpReason} but did not list this instance as stored`,
    retrieveUrl: null,
  };
}
