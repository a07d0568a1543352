// Our bookkeeping over the host's segmentation list and labelmap image ids: which
// segmentations are ours, and which labelmap image lies on a given source image. The host
// objects are replaced by plain data with the same shape.
import { describe, expect, it } from 'vitest';
import type { HostLibraries } from '../../../extension/src/viewer/hostLibraries';
import type { HostSegmentation, HostServices } from '../../../extension/src/viewer/hostTypes';
import {
  clueSegmentationId,
  findLabelmapImageId,
  isClueSegmentationId,
  removeClueSegmentations,
} from '../../../extension/src/viewer/labelmap';

function librariesWithCache(images: Record<string, { referencedImageId: string }>): HostLibraries {
  return {
    cornerstone: {
      cache: {
        getImage: (id: string) => (images[id] ? { imageId: id, rows: 1, columns: 1, ...images[id] } : undefined),
      },
      metaData: { get: () => undefined },
      imageLoader: { loadAndCacheImage: () => Promise.reject(new Error('not used here')) },
      utilities: { imageToWorldCoords: () => [0, 0, 0] },
      eventTarget: new EventTarget(),
      getEnabledElement: () => undefined,
      Enums: { ViewportType: { STACK: 'stack' }, Events: { IMAGE_RENDERED: 'rendered', ELEMENT_ENABLED: 'enabled' } },
    },
    cornerstoneTools: {
      Enums: { SegmentationRepresentations: { Labelmap: 'Labelmap' } },
      segmentation: { triggerSegmentationEvents: { triggerSegmentationDataModified: () => {} } },
    },
  };
}

describe('segmentation ids', () => {
  it('marks ours by prefix and leaves other ids alone', () => {
    const id = clueSegmentationId('ds-1');
    expect(isClueSegmentationId(id)).toBe(true);
    expect(isClueSegmentationId('ds-1')).toBe(false);
    expect(isClueSegmentationId('1.2.3.4')).toBe(false);
  });
});

describe('removeClueSegmentations', () => {
  it('removes ours and never the user’s', () => {
    const segmentations: HostSegmentation[] = [
      { segmentationId: 'user-seg', representationData: {} },
      { segmentationId: clueSegmentationId('a'), representationData: {} },
      { segmentationId: clueSegmentationId('b'), representationData: {} },
    ];
    const removed: string[] = [];
    const services = {
      segmentationService: {
        getSegmentations: () => segmentations,
        remove: (id: string) => removed.push(id),
      },
    } as unknown as HostServices;
    expect(removeClueSegmentations(services)).toEqual([clueSegmentationId('a'), clueSegmentationId('b')]);
    expect(removed).toEqual([clueSegmentationId('a'), clueSegmentationId('b')]);
  });
});

describe('findLabelmapImageId', () => {
  const segmentation: HostSegmentation = {
    segmentationId: clueSegmentationId('ds'),
    representationData: {
      Labelmap: { imageIds: ['lab:0', 'lab:1', 'lab:2'], referencedImageIds: ['src:0', 'src:1', 'src:2'] },
    },
  };

  it('finds the labelmap image by position when the cache confirms the reference', () => {
    const libs = librariesWithCache({
      'lab:0': { referencedImageId: 'src:0' },
      'lab:1': { referencedImageId: 'src:1' },
      'lab:2': { referencedImageId: 'src:2' },
    });
    expect(findLabelmapImageId(segmentation, 'src:1', libs)).toBe('lab:1');
  });

  it('searches by referencedImageId when the order does not line up', () => {
    const libs = librariesWithCache({
      'lab:0': { referencedImageId: 'src:2' },
      'lab:1': { referencedImageId: 'src:0' },
      'lab:2': { referencedImageId: 'src:1' },
    });
    expect(findLabelmapImageId(segmentation, 'src:1', libs)).toBe('lab:2');
  });

  it('returns undefined for an image the labelmap does not cover', () => {
    const libs = librariesWithCache({ 'lab:0': { referencedImageId: 'src:0' } });
    expect(findLabelmapImageId(segmentation, 'other', libs)).toBeUndefined();
  });
});
