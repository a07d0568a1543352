// An error whose message is meant for the user, shown as-is in the panel (bad input: a
// non-image series, a colour image, no viewport...). Anything else is a bug and is shown
// with a generic prefix.
export class ClueInputError extends Error {
  override name = 'ClueInputError';
}

/**
 * A slice whose pixels all have one value (a blank or padding slice): it holds no anatomy,
 * so the model is not run on it. Its own class, with the value, so a caller can tell a
 * slice with nothing to detect from one that cannot be read.
 */
export class BlankSliceError extends ClueInputError {
  override name = 'BlankSliceError';
  constructor(
    message: string,
    /** The one value every pixel has (real-world, after the modality LUT). */
    readonly value: number,
  ) {
    super(message);
  }
}

export function messageForUser(error: unknown): string {
  if (error instanceof ClueInputError) return error.message;
  const detail = error instanceof Error ? error.message : String(error);
  return `Unexpected error: ${detail}`;
}
