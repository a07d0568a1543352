// What the panel says when a run goes wrong: engine errors (model missing, corrupt, too
// large, no backend...) and blank slices, as one clear sentence each. Pure.
import { BlankSliceError } from '../errors';

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
