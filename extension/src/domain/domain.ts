// Is a slice inside the model's validated domain (manifest "domain", docs/manifest.md)? Plain
// code over what the slice's DICOM attributes say (read by viewer/readSlice.ts): each declared
// field is inside, outside (with a caution saying why that matters), or not checked because
// the slice does not say — never guessed.
import type { DomainPlane, ModelDomain } from '../engine/manifest';
import { DOMAIN_SEQUENCES } from '../engine/manifest';

/**
 * What a slice's DICOM attributes say about its acquisition (absent: not recorded). Read from
 * the attributes themselves, not from the host's image-plane metadata, which stands in an
 * axial orientation and 1 mm spacing when the image has none (e.g. a radiograph).
 */
export interface SliceAttributes {
  modality?: string;
  bodyPartExamined?: string;
  seriesDescription?: string;
  protocolName?: string;
  /** Multi-valued (e.g. ["SE", "IR"]). */
  scanningSequence?: string[];
  sequenceName?: string;
  contrastBolusAgent?: string;
  /** Row then column direction cosines (6 values); for an MPR reformat, the plane's. */
  imageOrientationPatient?: number[];
  /** [spacing between rows, between columns] in mm; for an MPR reformat, the plane's. */
  pixelSpacing?: number[];
}

/**
 * Up to this many degrees between the slice normal and the nearest patient axis, a slice
 * counts as that plane: acquisitions are often tilted a little; beyond this the anatomy
 * the model sees is cut differently, and the plane is reported as oblique.
 */
export const PLANE_TOLERANCE_DEGREES = 5;

/** Spacings within this many mm of a range bound count as inside (DS rounding). */
const SPACING_TOLERANCE_MM = 1e-4;

export type SlicePlane = DomainPlane | 'oblique';

/** What the slice is, as read from its attributes; null where they do not say. */
export interface SliceDescription {
  modality: string | null;
  bodyPart: string | null;
  /** The sequence the attributes name (may be one outside the manifest vocabulary, e.g. "T2*"). */
  sequence: string | null;
  /** Where the sequence was read from, or why it could not be told. */
  sequenceEvidence: string;
  plane: SlicePlane | null;
  /** The patient plane nearest to the slice and the angle between them (null: no orientation). */
  nearestPlane: DomainPlane | null;
  degreesOffPlane: number | null;
  /** [row spacing, column spacing] in mm. */
  pixelSpacingMm: [number, number] | null;
}

export type DomainField = 'modality' | 'body_part' | 'sequence' | 'plane' | 'pixel_spacing';

export interface DomainFinding {
  field: DomainField;
  status: 'inside' | 'outside' | 'not-checked';
  /** One sentence for the panel: for outside, what is outside and why it matters. */
  message: string;
}

export interface DomainCheck {
  /** False: the manifest declares no validated domain (nothing was checked). */
  declared: boolean;
  slice: SliceDescription;
  /** One per field the domain declares, in the manifest's order. */
  findings: DomainFinding[];
}

const CAUTION = 'read this map with caution';

/** "A", "A or B", "A, B or C" (or with "and"). */
function joinList(items: readonly string[], word: 'or' | 'and'): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} ${word} ${items[items.length - 1]}`;
}
const orList = (items: readonly string[]) => joinList(items, 'or');

/** Millimetres with one decimal, or two when the second one matters (0.5, 2.0, 0.98). */
export function formatMm(value: number): string {
  const two = value.toFixed(2);
  return two.endsWith('0') ? value.toFixed(1) : two;
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

// --- Sequence ------------------------------------------------------------------------------

type BaseSequence = 'T1' | 'T2' | 'FLAIR' | 'PD' | 'DWI' | 'T2*' | 'SWI';

/** The weighting a token of a description names, if any. */
function tokenSequence(token: string): BaseSequence | null {
  if (token.includes('FLAIR')) return 'FLAIR';
  if (/^T2(\*|STAR)/.test(token) || token === 'T2S') return 'T2*';
  if (token === 'SWI' || token === 'SWAN') return 'SWI';
  if (/^T2(?!\d)/.test(token)) return 'T2';
  if (/^T1(?!\d)/.test(token)) return 'T1';
  // Names of T1-weighted 3-D gradient-echo sequences (Siemens' sequence name is *tfl3d…).
  if (['MPRAGE', 'RAGE', 'SPGR', 'FSPGR', 'BRAVO'].includes(token) || token.includes('TFL3D')) return 'T1';
  if (['PD', 'PDW', 'PDWI', 'PROTON'].includes(token)) return 'PD';
  if (['DWI', 'DTI', 'DIFFUSION', 'DIFF', 'TRACEW'].includes(token)) return 'DWI';
  return null;
}

const POST_CONTRAST_TOKENS = new Set([
  'CE',
  'GD',
  'GAD',
  'GADO',
  'POST',
  'POSTCONTRAST',
  'POSTGD',
  '+C',
  'C+',
  '+GD',
  'GD+',
]);
const PRE_CONTRAST_TOKENS = new Set(['PRE', 'PRECONTRAST', 'NATIVE']);

const tokens = (text: string) =>
  text
    .toUpperCase()
    .split(/[^A-Z0-9*+]+/)
    .filter(Boolean);

function describeSources(attributes: SliceAttributes): string[] {
  const read: string[] = [];
  if (attributes.seriesDescription) read.push(`SeriesDescription “${attributes.seriesDescription}”`);
  if (attributes.protocolName) read.push(`ProtocolName “${attributes.protocolName}”`);
  if (attributes.sequenceName) read.push(`SequenceName “${attributes.sequenceName}”`);
  return read;
}

/**
 * The sequence the slice's attributes name: keywords of SeriesDescription, ProtocolName and
 * SequenceName (T1 becomes T1CE with a post-contrast keyword or a ContrastBolusAgent).
 * ScanningSequence (SE, GR, IR, EP…) is reported but never decides: it does not tell the
 * weighting. Names that contradict each other (T1 and T2) leave the sequence untold.
 */
export function identifySequence(attributes: SliceAttributes): { sequence: string | null; evidence: string } {
  const sources: Array<[string, string]> = [];
  if (attributes.seriesDescription) sources.push(['SeriesDescription', attributes.seriesDescription]);
  if (attributes.protocolName) sources.push(['ProtocolName', attributes.protocolName]);
  if (attributes.sequenceName) sources.push(['SequenceName', attributes.sequenceName]);
  const found = new Set<BaseSequence>();
  const namedBy: string[] = [];
  const allTokens: string[] = [];
  for (const [name, text] of sources) {
    const sourceTokens = tokens(text);
    allTokens.push(...sourceTokens);
    const named = sourceTokens.map(tokenSequence).filter((s): s is BaseSequence => s !== null);
    if (named.length) namedBy.push(`${name} “${text}”`);
    for (const sequence of named) found.add(sequence);
  }
  // "T2 FLAIR" is a FLAIR.
  if (found.has('FLAIR')) found.delete('T2');
  const scanning = attributes.scanningSequence?.length
    ? ` (ScanningSequence ${attributes.scanningSequence.join('\\')} alone does not tell the weighting)`
    : '';
  if (found.size === 0) {
    const read = describeSources(attributes);
    return {
      sequence: null,
      evidence: read.length
        ? `${read.join(', ')} name${read.length === 1 ? 's' : ''} no sequence this check knows (${DOMAIN_SEQUENCES.join(', ')})${scanning}`
        : `the slice has no SeriesDescription, ProtocolName or SequenceName${scanning}`,
    };
  }
  if (found.size > 1) {
    return {
      sequence: null,
      evidence: `${namedBy.join(', ')} name${namedBy.length === 1 ? 's' : ''} ${found.size === 2 ? 'both ' : ''}${joinList([...found], 'and')}`,
    };
  }
  const [base] = [...found] as [BaseSequence];
  if (base !== 'T1') return { sequence: base, evidence: namedBy.join(', ') };
  const agent = attributes.contrastBolusAgent?.trim();
  const postToken = allTokens.some((t) => POST_CONTRAST_TOKENS.has(t) || /^T1(CE|C|GD|POST|\+C?|\+GD)$/.test(t));
  const preToken = allTokens.some((t) => PRE_CONTRAST_TOKENS.has(t));
  const contrastWord = allTokens.includes('CONTRAST') && !preToken;
  if (agent) return { sequence: 'T1CE', evidence: `${namedBy.join(', ')}, ContrastBolusAgent “${agent}”` };
  if ((postToken || contrastWord) && !preToken) return { sequence: 'T1CE', evidence: namedBy.join(', ') };
  return { sequence: 'T1', evidence: namedBy.join(', ') };
}

// --- Plane and spacing ---------------------------------------------------------------------

/** The slice's plane from its ImageOrientationPatient (row, then column direction cosines). */
export function slicePlane(
  orientation: readonly number[] | undefined,
): { plane: SlicePlane; nearest: DomainPlane; degrees: number } | null {
  if (!orientation || orientation.length !== 6) return null;
  const [a0, a1, a2, b0, b1, b2] = orientation.map(Number) as [number, number, number, number, number, number];
  const normal = [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0];
  const length = Math.hypot(normal[0]!, normal[1]!, normal[2]!);
  if (!(length > 0) || !Number.isFinite(length)) return null;
  const [x, y, z] = normal.map((v) => Math.abs(v) / length) as [number, number, number];
  // DICOM patient axes (LPS): a normal along x is a sagittal slice, along y coronal, along z axial.
  const nearest: DomainPlane = x >= y && x >= z ? 'sagittal' : y >= z ? 'coronal' : 'axial';
  const degrees = (Math.acos(Math.min(1, Math.max(x, y, z))) * 180) / Math.PI;
  return { plane: degrees <= PLANE_TOLERANCE_DEGREES ? nearest : 'oblique', nearest, degrees };
}

const positive = (value: number | undefined): value is number =>
  typeof value === 'number' && Number.isFinite(value) && value > 0;

/** What the slice is, from its attributes (no domain needed). */
export function describeSlice(attributes: SliceAttributes): SliceDescription {
  const modality = attributes.modality?.trim().toUpperCase() || null;
  const sequence =
    modality === null || modality === 'MR'
      ? identifySequence(attributes)
      : { sequence: null, evidence: `not an MR image (${modality})` };
  const plane = slicePlane(attributes.imageOrientationPatient);
  const [r, c] = attributes.pixelSpacing?.length === 2 ? attributes.pixelSpacing.map(Number) : [];
  return {
    modality,
    bodyPart: attributes.bodyPartExamined?.trim().toUpperCase() || null,
    sequence: sequence.sequence,
    sequenceEvidence: sequence.evidence,
    plane: plane?.plane ?? null,
    nearestPlane: plane?.nearest ?? null,
    degreesOffPlane: plane ? plane.degrees : null,
    pixelSpacingMm: positive(r) && positive(c) ? [r, c] : null,
  };
}

// --- The check -----------------------------------------------------------------------------

function modalityFinding(domain: ModelDomain, slice: SliceDescription): DomainFinding {
  if (slice.modality === null)
    return {
      field: 'modality',
      status: 'not-checked',
      message: 'Modality not checked: the slice has no Modality attribute.',
    };
  if (domain.modality.includes(slice.modality))
    return { field: 'modality', status: 'inside', message: `Modality ${slice.modality} is validated.` };
  return {
    field: 'modality',
    status: 'outside',
    message: `${slice.modality}: this model was validated on ${orList(domain.modality)} only — it has not learned this modality's intensities; ${CAUTION}.`,
  };
}

function bodyPartFinding(parts: string[], slice: SliceDescription): DomainFinding {
  if (slice.bodyPart === null)
    return {
      field: 'body_part',
      status: 'not-checked',
      message: 'Body part not checked: the slice has no BodyPartExamined.',
    };
  if (parts.includes(slice.bodyPart))
    return { field: 'body_part', status: 'inside', message: `Body part ${slice.bodyPart} is validated.` };
  return {
    field: 'body_part',
    status: 'outside',
    message: `Body part ${slice.bodyPart}: this model was validated on ${orList(parts)} only — it has not learned this anatomy; ${CAUTION}.`,
  };
}

function sequenceFinding(sequences: string[], slice: SliceDescription): DomainFinding {
  if (slice.sequence === null)
    return { field: 'sequence', status: 'not-checked', message: `Sequence not checked: ${slice.sequenceEvidence}.` };
  if (sequences.includes(slice.sequence))
    return {
      field: 'sequence',
      status: 'inside',
      message: `Sequence ${slice.sequence} (from ${slice.sequenceEvidence}) is validated.`,
    };
  return {
    field: 'sequence',
    status: 'outside',
    message: `${slice.sequence} (from ${slice.sequenceEvidence}): this model was validated on ${orList(sequences)} only — the tissue contrast differs from what it learned, so lesions and normal tissue can be mistaken for each other; ${CAUTION}.`,
  };
}

function planeFinding(planes: DomainPlane[], slice: SliceDescription): DomainFinding {
  if (slice.plane === null)
    return {
      field: 'plane',
      status: 'not-checked',
      message: 'Plane not checked: the slice has no usable ImageOrientationPatient.',
    };
  if (slice.plane !== 'oblique' && planes.includes(slice.plane))
    return { field: 'plane', status: 'inside', message: `The ${slice.plane} plane is validated.` };
  const what =
    slice.plane === 'oblique'
      ? `Oblique plane (${slice.degreesOffPlane!.toFixed(0)}° from ${slice.nearestPlane}; tolerated up to ${PLANE_TOLERANCE_DEGREES}°)`
      : `${capitalised(slice.plane)} plane`;
  return {
    field: 'plane',
    status: 'outside',
    message: `${what}: this model was validated on ${orList(planes)} slices only — the anatomy is cut differently from what it learned; ${CAUTION}.`,
  };
}

function spacingFinding([low, high]: [number, number], slice: SliceDescription): DomainFinding {
  if (slice.pixelSpacingMm === null)
    return {
      field: 'pixel_spacing',
      status: 'not-checked',
      message: 'Pixel spacing not checked: the slice has no PixelSpacing.',
    };
  const [r, c] = slice.pixelSpacingMm;
  const spacing = `${formatMm(r)} × ${formatMm(c)} mm`;
  const inside = (v: number) => v >= low - SPACING_TOLERANCE_MM && v <= high + SPACING_TOLERANCE_MM;
  if (inside(r) && inside(c))
    return { field: 'pixel_spacing', status: 'inside', message: `Pixel spacing ${spacing} is validated.` };
  return {
    field: 'pixel_spacing',
    status: 'outside',
    message: `Pixel spacing ${spacing}: this model was validated on ${formatMm(low)}–${formatMm(high)} mm only — structures appear at a different scale from what it learned; ${CAUTION}.`,
  };
}

/** The slice against the model's domain; `domain` undefined: not declared, nothing checked. */
export function checkDomain(domain: ModelDomain | undefined, attributes: SliceAttributes): DomainCheck {
  const slice = describeSlice(attributes);
  if (!domain) return { declared: false, slice, findings: [] };
  const findings: DomainFinding[] = [modalityFinding(domain, slice)];
  if (domain.body_part) findings.push(bodyPartFinding(domain.body_part, slice));
  // A sequence is an MR notion: on another modality the modality finding already says it all.
  if (domain.sequences && (slice.modality === null || slice.modality === 'MR'))
    findings.push(sequenceFinding(domain.sequences, slice));
  if (domain.planes) findings.push(planeFinding(domain.planes, slice));
  if (domain.pixel_spacing_mm) findings.push(spacingFinding(domain.pixel_spacing_mm, slice));
  return { declared: true, slice, findings };
}

/** One line for the panel: "MR, body part BRAIN or HEAD, T1, axial, pixel spacing 0.5–2.0 mm". */
export function describeDomain(domain: ModelDomain): string {
  const parts = [orList(domain.modality)];
  if (domain.body_part) parts.push(`body part ${orList(domain.body_part)}`);
  if (domain.sequences) parts.push(orList(domain.sequences));
  if (domain.planes) parts.push(orList(domain.planes));
  if (domain.pixel_spacing_mm)
    parts.push(`pixel spacing ${formatMm(domain.pixel_spacing_mm[0])}–${formatMm(domain.pixel_spacing_mm[1])} mm`);
  return parts.join(', ');
}

/** One line for the panel: what the slice is ("MR, BRAIN, T1, axial, 1.0 × 1.0 mm"). */
export function describeSliceLine(slice: SliceDescription): string {
  const plane =
    slice.plane === 'oblique'
      ? `oblique (${slice.degreesOffPlane!.toFixed(0)}° from ${slice.nearestPlane})`
      : slice.plane;
  return [
    slice.modality ?? 'modality not recorded',
    slice.bodyPart ?? 'body part not recorded',
    ...(slice.modality === null || slice.modality === 'MR' ? [slice.sequence ?? 'sequence not told'] : []),
    plane ?? 'plane not recorded',
    slice.pixelSpacingMm
      ? `${formatMm(slice.pixelSpacingMm[0])} × ${formatMm(slice.pixelSpacingMm[1])} mm`
      : 'spacing not recorded',
  ].join(', ');
}

/** The findings that put the slice outside the domain (shown as cautions). */
export const outsideFindings = (check: DomainCheck) => check.findings.filter((f) => f.status === 'outside');
