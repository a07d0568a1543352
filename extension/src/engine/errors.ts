// Errors of the inference engine. Each has a `code` the panel can branch on and a message
// meant for the user (what is wrong and with which file), never a bare stack trace.

export type EngineErrorCode =
  | 'manifest' // the manifest is missing, not JSON, or not clue-manifest/1
  | 'model-missing' // the model file is not there (HTTP 404 and friends)
  | 'model-corrupt' // wrong size or sha256: the bytes are not the model the manifest names
  | 'model-too-large' // cannot fit the WebAssembly heap
  | 'network' // the request failed (offline, CORS, server error)
  | 'backend' // the runtime could not create a session / run the graph
  | 'bad-input' // the slice cannot be preprocessed
  | 'disposed'; // the engine was disposed

export class EngineError extends Error {
  override name = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The rejection of a run that a newer run (or the caller's signal) cancelled. */
export function abortError(): DOMException {
  return new DOMException('The run was cancelled by a newer run', 'AbortError');
}

export function isAbortError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'AbortError';
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError();
}
