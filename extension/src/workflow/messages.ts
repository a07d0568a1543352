// What the panel says when something goes wrong: engine errors (model missing, corrupt,
// too large, no backend...) and slices we refuse, as one clear sentence each. Pure.
import { BlankSliceError, ClueInputError } from '../errors';

/** Slices we run on: bounded so a huge image cannot stall the worker or exhaust memory. */
export const SLICE_LIMITS = Object.freeze({
  /** Largest side in pixels (4096: the largest common radiography detector matrices). */
  maxSide: 4096,
  /** Smallest side in pixels: below this a slice carries too little to map. */
  minSide: 16,
});

/** Throws a ClueInputError for a slice outside SLICE_LIMITS. */
export function checkSliceSize(rows: number, columns: number): void {
  const { maxSide, minSide } = SLICE_LIMITS;
  if (rows > maxSide || columns > maxSide) {
    throw new ClueInputError(
      `The displayed image is ${rows}×${columns} pixels; CLUE runs on images of at most ${maxSide}×${maxSide}.`,
    );
  }
  if (rows < minSide || columns < minSide) {
    throw new ClueInputError(
      `The displayed image is only ${rows}×${columns} pixels; CLUE needs at least ${minSide}×${minSide}.`,
    );
  }
}

/**
 * The one value of a slice whose pixels all have it, or null when they differ. NaN never
 * equals itself, so a slice holding NaN is not called constant here (preprocessing refuses
 * non-finite values with its own message).
 */
export function constantValue(values: ArrayLike<number>): number | null {
  if (values.length === 0) return null;
  const first = values[0]!;
  for (let i = 1; i < values.length; i++) if (values[i] !== first) return null;
  return first === first ? first : null;
}

/** How a pixel value reads in a sentence: as stored for integers, 6 significant digits otherwise. */
function formatPixelValue(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

/**
 * Throws a BlankSliceError when every pixel of the slice has the same value. Such a slice
 * (all zero outside the body, or constant padding) shows no anatomy: the model would still
 * give it a score, but one that means nothing, so CLUE refuses it instead. `what` names the
 * slice in the sentence: "slice", "sagittal plane", "image 3 of the series".
 */
export function checkNotBlank(values: ArrayLike<number>, what = 'slice'): void {
  const value = constantValue(values);
  if (value === null) return;
  const shown = formatPixelValue(value);
  throw new BlankSliceError(
    value === 0
      ? `This ${what} is blank (every pixel is 0): there is nothing to detect, so the model was not run on it.`
      : `This ${what} is constant (every pixel is ${shown}): it shows no anatomy, so there is nothing to detect and the model was not run on it.`,
    value,
  );
}

/** The host has no decoder for the image's transfer syntax: waiting will not help, re-sending will. */
export function undecodableTransferSyntaxMessage(what: string, uid: string, name: string | undefined): string {
  const syntax = name ? `${name} (${uid})` : uid;
  return `The ${what} is stored with transfer syntax ${syntax}, which the viewer cannot decode; re-send it from the PACS in another transfer syntax (e.g. Explicit VR Little Endian).`;
}

/**
 * The host's loader tried and failed to load the image (e.g. the server refused its frames,
 * or the decoder rejected them): waiting will not help. `syntax` is the name and UID of its
 * transfer syntax when the instance metadata has one, `detail` what the loader said.
 */
export function imageLoadFailedMessage(what: string, syntax: string | undefined, detail: string | undefined): string {
  const stored = syntax ? ` (stored with transfer syntax ${syntax})` : '';
  const why = detail ? `: ${detail}` : '';
  return `The viewer could not load or decode the ${what}${stored}${why}. Waiting will not help; have the PACS send it in another transfer syntax (e.g. Explicit VR Little Endian).`;
}

/**
 * A colour image: palette colour is named as such (the host turns its palette indices into
 * RGB, so it would otherwise read as "3 components"); other colour images keep their count.
 */
export function colourImageMessage(
  what: string,
  photometricInterpretation: string | undefined,
  components: number,
): string {
  if (photometricInterpretation === 'PALETTE COLOR') {
    return `The ${what} is a palette colour (PALETTE COLOR) image, which is not supported: the model reads greyscale (MONOCHROME1 or MONOCHROME2) slices.`;
  }
  const stored = photometricInterpretation ? `, not ${photometricInterpretation}` : '';
  return `The ${what} is a colour image (${components} components); CLUE needs greyscale (MONOCHROME1 or MONOCHROME2)${stored}.`;
}

/** The engine's error shape (engine/errors.ts), matched structurally to keep this pure. */
interface CodedError {
  code: string;
  message: string;
}

function isCodedError(error: unknown): error is CodedError {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string' &&
    (error as { name?: unknown }).name === 'EngineError'
  );
}

/** One sentence for the panel: what went wrong, with which model, and what to do. */
export function engineErrorMessage(error: unknown, modelUrl: string): string | null {
  if (!isCodedError(error)) return null;
  const detail = error.message;
  switch (error.code) {
    case 'manifest':
      return `The model manifest cannot be used: ${detail}. Check window.config.clue.modelUrl (now ${modelUrl}).`;
    case 'model-missing':
      return `The model file is missing: ${detail}.`;
    case 'model-corrupt':
      return `The model file does not match its manifest and was not used: ${detail}. Re-export or re-copy the model.`;
    case 'model-too-large':
      return `The model is too large for this browser: ${detail}.`;
    case 'network':
      return `The model could not be downloaded: ${detail}.`;
    case 'backend':
      return `The inference runtime failed: ${detail}.`;
    case 'bad-input':
      return `The displayed slice cannot be preprocessed: ${detail}.`;
    case 'disposed':
      return 'The model was unloaded (the mode was left); run again.';
    default:
      return `Model error (${error.code}): ${detail}.`;
  }
}
