// The part of dcmjs (0.51, untyped JavaScript) that extension/src/dicom uses.
declare module 'dcmjs' {
  /** A dataset in dcmjs' "naturalized" form: DICOM keywords → values, sequences as arrays. */
  export type NaturalizedDataset = Record<string, unknown>;
  /** dcmjs' tag-keyed form: '00080018' → { vr, Value }. */
  export type DenaturalizedDataset = Record<string, { vr: string; Value?: unknown[] }>;

  class DicomDict {
    constructor(meta: DenaturalizedDataset);
    meta: DenaturalizedDataset;
    dict: DenaturalizedDataset;
    write(options?: Record<string, unknown>): ArrayBuffer;
  }

  type DcmjsData = {
    DicomDict: typeof DicomDict;
    DicomMessage: {
      readFile(buffer: ArrayBuffer, options?: Record<string, unknown>): DicomDict;
    };
    DicomMetaDictionary: {
      naturalizeDataset(dataset: DenaturalizedDataset): NaturalizedDataset;
      denaturalizeDataset(dataset: NaturalizedDataset): DenaturalizedDataset;
      uid(): string;
    };
  };

  const dcmjs: { data: DcmjsData };
  export default dcmjs;
}
