// An error whose message is meant for the user, shown as-is in the panel (bad input: a
// non-image series, a colour image, no viewport...). Anything else is a bug and is shown
// with a generic prefix.
export class ClueInputError extends Error {
  override name = 'ClueInputError';
}

export function messageForUser(error: unknown): string {
  if (error instanceof ClueInputError) return error.message;
  const detail = error instanceof Error ? error.message : String(error);
  return `Unexpected error: ${detail}`;
}
