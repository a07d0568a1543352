// Which model produced a result: recorded by the results export and by every DICOM object we
// write, so a number can always be traced to the exact file that ran.
export interface ModelIdentity {
  id: string;
  version: string;
  /** sha256 of the model file that ran (hex). */
  sha256: string;
}
