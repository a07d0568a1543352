// Public surface of the DICOM folder (pure TypeScript + dcmjs, no OHIF): results as a SEG and a
// Parametric Map, and STOW-RS. See docs/results-and-dicom.md.
export * from './source';
export {
  algorithmVersion,
  type CodedConcept,
  type DerivedObjectOptions,
  type DicomPart10File,
  type ModelIdentity,
} from './common';
export * from './segmentation';
export * from './parametricMap';
export * from './stow';
export * from './hostReopen';
export * from './readSegmentation';
