// The tests' way to a real Orthanc: server/orthanc.js (the same lifecycle code the e2e tests
// and `server/start.js --pacs orthanc` use), typed for TypeScript.

export interface OrthancInstance {
  dicomWebUrl: string;
  stop(): Promise<void>;
}
interface OrthancHelper {
  startOrthanc(options?: { timeoutMs?: number }): Promise<OrthancInstance>;
  checkOrthancInstalled(): void;
  freePort(): Promise<number>;
}

// server/orthanc.js is plain JavaScript without type declarations; a computed specifier keeps
// the type checker from demanding them, and the interface above says what we use.
const helperPath = '../../server/orthanc.js';
export const orthancHelper = (await import(helperPath)) as OrthancHelper;

/** Why Orthanc cannot run here (not installed…), or null when it can. */
export function orthancMissingReason(): string | null {
  try {
    orthancHelper.checkOrthancInstalled();
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

// In CI (CI=true) `npm test` has installed every prerequisite: a missing one must fail, not skip.
export const SKIP_ALLOWED = !process.env.CI;
