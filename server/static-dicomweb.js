// A read-only DICOMweb server over a folder of DICOM Part 10 files: QIDO-RS (studies, series,
// instances), WADO-RS (metadata, frames, instances). It is the embedded data source of the
// demo: OHIF's study list needs QIDO-RS (its static `dicomjson` source cannot list studies
// unless a PatientID filter is set), so the demo serves the generated files the way a PACS
// would, through the same OHIF `dicomweb` data source the Orthanc path uses.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import dcmjs from 'dcmjs';

const { DicomMessage } = dcmjs.data;

const PIXEL_DATA = '7FE00010';
// Uncompressed transfer syntaxes whose frames we can cut out of PixelData byte-for-byte.
const NATIVE_SYNTAXES = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1']);
const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);

const STUDY_TAGS = [
  '00080005',
  '00080020',
  '00080030',
  '00080050',
  '00080090',
  '00081030',
  '00100010',
  '00100020',
  '00100030',
  '00100040',
  '0020000D',
  '00200010',
];
const SERIES_TAGS = ['00080005', '00080021', '00080031', '00080060', '0008103E', '0020000D', '0020000E', '00200011'];
const INSTANCE_TAGS = [
  '00080005',
  '00080016',
  '00080018',
  '0020000D',
  '0020000E',
  '00200013',
  '00280008',
  '00280010',
  '00280011',
];
// QIDO attribute keywords OHIF (and people) use, mapped to tags.
const KEYWORD_TAGS = {
  StudyInstanceUID: '0020000D',
  SeriesInstanceUID: '0020000E',
  SOPInstanceUID: '00080018',
  PatientID: '00100020',
  PatientName: '00100010',
  StudyDescription: '00081030',
  AccessionNumber: '00080050',
  StudyDate: '00080020',
  Modality: '00080060',
  ModalitiesInStudy: '00080061',
  SeriesNumber: '00200011',
};

export class DicomIndexError extends Error {}

async function listFiles(dir) {
  const out = [];
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new DicomIndexError(`${dir}: cannot read DICOM folder (${err.code ?? err.message})`);
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await listFiles(full)));
    else if (entry.isFile() && entry.name.toLowerCase().endsWith('.dcm')) out.push(full);
  }
  return out.sort();
}

function toArrayBuffer(buf) {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

function readDataset(file, buffer) {
  try {
    const message = DicomMessage.readFile(toArrayBuffer(buffer));
    return { meta: message.meta, dict: message.dict };
  } catch (err) {
    throw new DicomIndexError(`${file}: not a readable DICOM Part 10 file (${err.message})`);
  }
}

function firstValue(dict, tag) {
  return dict[tag]?.Value?.[0];
}

/** A DICOM JSON element for the browser: binary values inlined, internals dropped. */
function jsonElement(element) {
  const out = { vr: element.vr };
  if (element.vr === 'SQ') {
    out.Value = (element.Value ?? []).map((item) => jsonDataset(item));
  } else if (BINARY_VRS.has(element.vr)) {
    const chunks = (element.Value ?? []).filter((v) => v instanceof ArrayBuffer);
    if (chunks.length) out.InlineBinary = Buffer.concat(chunks.map((c) => Buffer.from(c))).toString('base64');
  } else if (element.Value !== undefined && element.Value.length) {
    out.Value = element.Value;
  }
  return out;
}

function jsonDataset(dict, { skip = [] } = {}) {
  const out = {};
  for (const [tag, element] of Object.entries(dict)) {
    if (skip.includes(tag)) continue;
    out[tag] = jsonElement(element);
  }
  return out;
}

function pick(json, tags) {
  const out = {};
  for (const tag of tags) if (json[tag]) out[tag] = json[tag];
  return out;
}

/** Reads every .dcm under `dir` into an in-memory index (headers only are kept). */
export async function buildDicomIndex(dir) {
  const files = await listFiles(dir);
  if (files.length === 0) throw new DicomIndexError(`${dir}: no .dcm files found`);
  const studies = new Map();
  for (const file of files) {
    const { meta, dict } = readDataset(file, await readFile(file));
    const studyUid = firstValue(dict, '0020000D');
    const seriesUid = firstValue(dict, '0020000E');
    const sopUid = firstValue(dict, '00080018');
    if (!studyUid || !seriesUid || !sopUid) {
      throw new DicomIndexError(`${file}: missing Study/Series/SOP Instance UID`);
    }
    const json = jsonDataset(dict, { skip: [PIXEL_DATA] });
    const transferSyntax = firstValue(meta, '00020010');
    // As a PACS reports it in WADO-RS metadata (Available Transfer Syntax UID): the viewer
    // names it when it cannot load the frames (we serve uncompressed ones only).
    if (transferSyntax) json['00083002'] = { vr: 'UI', Value: [transferSyntax] };
    let study = studies.get(studyUid);
    if (!study) {
      study = { uid: studyUid, json: pick(json, STUDY_TAGS), series: new Map() };
      studies.set(studyUid, study);
    }
    let series = study.series.get(seriesUid);
    if (!series) {
      series = { uid: seriesUid, json: pick(json, SERIES_TAGS), instances: new Map() };
      study.series.set(seriesUid, series);
    }
    if (series.instances.has(sopUid)) throw new DicomIndexError(`${file}: duplicate SOP Instance UID ${sopUid}`);
    series.instances.set(sopUid, { uid: sopUid, file, transferSyntax, json, hasPixelData: PIXEL_DATA in dict });
  }
  return { dir, studies, fileCount: files.length };
}

function studyAttributes(study) {
  const modalities = new Set();
  let instances = 0;
  for (const series of study.series.values()) {
    const modality = series.json['00080060']?.Value?.[0];
    if (modality) modalities.add(modality);
    instances += series.instances.size;
  }
  return {
    ...study.json,
    '00080061': { vr: 'CS', Value: [...modalities].sort() },
    '00201206': { vr: 'IS', Value: [study.series.size] },
    '00201208': { vr: 'IS', Value: [instances] },
  };
}

function seriesAttributes(study, series) {
  return {
    ...series.json,
    '0020000D': { vr: 'UI', Value: [study.uid] },
    '00201209': { vr: 'IS', Value: [series.instances.size] },
  };
}

function instanceAttributes(study, series, instance) {
  return {
    ...pick(instance.json, INSTANCE_TAGS),
    '0020000D': { vr: 'UI', Value: [study.uid] },
    '0020000E': { vr: 'UI', Value: [series.uid] },
  };
}

function metadataOf(study, series, instance) {
  // Like a PACS's metadata, without the pixels: OHIF builds its WADO-RS frame URLs
  // (/studies/…/instances/…/frames/N) from the UIDs. PixelData was dropped at indexing.
  return instance.json;
}

// --- QIDO matching: exact, list (comma/backslash), wildcard (*, ?), and date ranges.
function valueStrings(element) {
  if (!element?.Value) return [];
  return element.Value.map((v) => (v && typeof v === 'object' ? (v.Alphabetic ?? '') : String(v)));
}

function matches(json, filters) {
  for (const [tag, wanted] of filters) {
    const values = valueStrings(json[tag]);
    if (tag === '00080020' && wanted.includes('-')) {
      const [from, to] = wanted.split('-');
      if (!values.some((v) => (!from || v >= from) && (!to || v <= to))) return false;
    } else if (/[*?]/.test(wanted)) {
      const re = new RegExp(
        `^${wanted
          .replace(/[.+^${}()|[\]\\]/g, '\\$&')
          .replace(/\*/g, '.*')
          .replace(/\?/g, '.')}$`,
        'i',
      );
      if (!values.some((v) => re.test(v))) return false;
    } else {
      const options = wanted.split(/[,\\]/);
      if (!values.some((v) => options.includes(v))) return false;
    }
  }
  return true;
}

function qidoFilters(searchParams) {
  const filters = [];
  for (const [key, value] of searchParams) {
    if (!value) continue;
    const tag = KEYWORD_TAGS[key] ?? (/^[0-9A-Fa-f]{8}$/.test(key) ? key.toUpperCase() : null);
    if (tag) filters.push([tag, value]);
  }
  return filters;
}

function page(items, searchParams) {
  const offset = Math.max(0, Number(searchParams.get('offset')) || 0);
  const limit = Number(searchParams.get('limit')) || 0;
  return limit > 0 ? items.slice(offset, offset + limit) : items.slice(offset);
}

// --- Responses
function sendJson(res, body, status = 200) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/dicom+json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res, status, message) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(`${message}\n`);
}

function sendMultipart(res, parts, type) {
  const boundary = `clue-${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`;
  const chunks = [];
  for (const part of parts) {
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Type: ${part.contentType}\r\nContent-Length: ${part.body.length}\r\n\r\n`),
    );
    chunks.push(part.body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  const body = Buffer.concat(chunks);
  res.writeHead(200, {
    'Content-Type': `multipart/related; type="${type}"; boundary=${boundary}`,
    'Content-Length': body.length,
  });
  res.end(body);
}

/**
 * Returns `handle(req, res, subpath)` for requests under the DICOMweb root; `subpath`
 * (path + query) starts with '/studies'.
 */
export function createStaticDicomWeb(index) {
  const frameCache = new Map(); // file -> { pixelData: Buffer } (a few recent files)

  async function pixelDataOf(instance) {
    const cached = frameCache.get(instance.file);
    if (cached) return cached;
    const { dict } = readDataset(instance.file, await readFile(instance.file));
    const element = dict[PIXEL_DATA];
    const data = Buffer.concat((element?.Value ?? []).map((v) => Buffer.from(v)));
    frameCache.set(instance.file, data);
    if (frameCache.size > 64) frameCache.delete(frameCache.keys().next().value);
    return data;
  }

  function frameBytes(instance, pixelData, frameNumber) {
    const j = instance.json;
    const rows = j['00280010']?.Value?.[0];
    const cols = j['00280011']?.Value?.[0];
    const samples = j['00280002']?.Value?.[0] ?? 1;
    const bitsAllocated = j['00280100']?.Value?.[0];
    const frames = Number(j['00280008']?.Value?.[0] ?? 1);
    if (!rows || !cols || !bitsAllocated) throw new Error('instance lacks Rows/Columns/BitsAllocated');
    if (frameNumber < 1 || frameNumber > frames) throw new RangeError(`frame ${frameNumber} out of 1..${frames}`);
    const frameBits = rows * cols * samples * bitsAllocated;
    const startBit = (frameNumber - 1) * frameBits;
    if (startBit % 8 === 0 && frameBits % 8 === 0) {
      return pixelData.subarray(startBit / 8, (startBit + frameBits) / 8);
    }
    // 1-bit frames (SEG) that do not start on a byte: repack them bit by bit.
    const out = Buffer.alloc(Math.ceil(frameBits / 8));
    for (let i = 0; i < frameBits; i++) {
      const src = startBit + i;
      if (pixelData[src >> 3] & (1 << (src & 7))) out[i >> 3] |= 1 << (i & 7);
    }
    return out;
  }

  function findStudy(uid) {
    return index.studies.get(uid);
  }

  return async function handle(req, res, subpath) {
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'read-only DICOMweb: GET only');
    const url = new URL(subpath, 'http://x');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const q = url.searchParams;
    const filters = qidoFilters(q);

    if (parts[0] !== 'studies') return sendError(res, 404, `not a DICOMweb resource: ${url.pathname}`);
    // QIDO: /studies
    if (parts.length === 1) {
      const list = [...index.studies.values()].map(studyAttributes).filter((j) => matches(j, filters));
      return sendJson(res, page(list, q));
    }
    const study = findStudy(parts[1]);
    if (!study) return sendError(res, 404, `unknown study ${parts[1]}`);
    if (parts.length === 2)
      return sendError(res, 406, 'retrieving a whole study is not supported; use /metadata or /series');
    if (parts[2] === 'metadata' && parts.length === 3) {
      const all = [];
      for (const series of study.series.values()) {
        for (const instance of series.instances.values()) all.push(metadataOf(study, series, instance));
      }
      return sendJson(res, all);
    }
    if (parts[2] !== 'series') return sendError(res, 404, `not a DICOMweb resource: ${url.pathname}`);
    if (parts.length === 3) {
      const list = [...study.series.values()].map((s) => seriesAttributes(study, s)).filter((j) => matches(j, filters));
      return sendJson(res, page(list, q));
    }
    const series = study.series.get(parts[3]);
    if (!series) return sendError(res, 404, `unknown series ${parts[3]}`);
    if (parts.length === 5 && parts[4] === 'metadata') {
      return sendJson(
        res,
        [...series.instances.values()].map((i) => metadataOf(study, series, i)),
      );
    }
    if (parts[4] !== 'instances') return sendError(res, 404, `not a DICOMweb resource: ${url.pathname}`);
    if (parts.length === 5) {
      const list = [...series.instances.values()]
        .map((i) => instanceAttributes(study, series, i))
        .filter((j) => matches(j, filters));
      return sendJson(res, page(list, q));
    }
    const instance = series.instances.get(parts[5]);
    if (!instance) return sendError(res, 404, `unknown instance ${parts[5]}`);
    if (parts.length === 6) {
      // Whole instance (OHIF prefetches SEG instances this way).
      const body = await readFile(instance.file);
      const accept = req.headers.accept ?? '';
      if (accept.includes('multipart/related')) {
        return sendMultipart(res, [{ contentType: 'application/dicom', body }], 'application/dicom');
      }
      res.writeHead(200, { 'Content-Type': 'application/dicom', 'Content-Length': body.length });
      return res.end(body);
    }
    if (parts.length === 7 && parts[6] === 'metadata') {
      return sendJson(res, [metadataOf(study, series, instance)]);
    }
    if (parts.length === 8 && parts[6] === 'frames') {
      if (!NATIVE_SYNTAXES.has(instance.transferSyntax)) {
        return sendError(
          res,
          406,
          `frames of transfer syntax ${instance.transferSyntax} are not served (uncompressed only)`,
        );
      }
      const numbers = parts[7].split(',').map(Number);
      if (numbers.some((n) => !Number.isInteger(n))) return sendError(res, 400, `bad frame list ${parts[7]}`);
      const pixelData = await pixelDataOf(instance);
      let bodies;
      try {
        bodies = numbers.map((n) => frameBytes(instance, pixelData, n));
      } catch (err) {
        return sendError(res, err instanceof RangeError ? 404 : 500, err.message);
      }
      const contentType = `application/octet-stream; transfer-syntax=${instance.transferSyntax}`;
      return sendMultipart(
        res,
        bodies.map((body) => ({ contentType, body })),
        'application/octet-stream',
      );
    }
    return sendError(res, 404, `not a DICOMweb resource: ${url.pathname}`);
  };
}
