// The source instances' DICOM attributes, as the host's metadata provider gives them
// (naturalized: keys are DICOM keywords), for the exports' UIDs and the derived objects.
import { ClueInputError } from '../errors';
import type { HostLibraries } from './hostLibraries';

export interface SourceInstance {
  imageId: string;
  /** Naturalized attributes of the instance the image belongs to. */
  attributes: Record<string, unknown>;
  sopInstanceUID: string;
  /** 1-based frame of a multi-frame instance; undefined for single-frame instances. */
  frameNumber?: number;
}

function frameOf(imageId: string, attributes: Record<string, unknown>): number | undefined {
  if (!(Number(attributes.NumberOfFrames) > 1)) return undefined;
  const match = /\/frames\/(\d+)/.exec(imageId) ?? /[?&]frame=(\d+)/.exec(imageId);
  return match ? Number(match[1]) : undefined;
}

export function sourceInstance(libraries: HostLibraries, imageId: string): SourceInstance {
  const attributes = libraries.cornerstone.metaData.get('instance', imageId) as Record<string, unknown> | undefined;
  const sopInstanceUID = attributes?.SOPInstanceUID;
  if (!attributes || typeof sopInstanceUID !== 'string') {
    throw new ClueInputError(`The viewer has no DICOM attributes for image ${imageId}.`);
  }
  const frameNumber = frameOf(imageId, attributes);
  return { imageId, attributes, sopInstanceUID, ...(frameNumber !== undefined ? { frameNumber } : {}) };
}
