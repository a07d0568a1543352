// Public surface of the metrics folder (pure TypeScript, no OHIF): see docs/results-and-dicom.md.
export * from './metrics';
export * from './groundTruth';
export * from './results';
