// Which display set a viewport's displayed image belongs to, given the viewport grid's
// display-set list (plain data in the host's shapes).
import { describe, expect, it } from 'vitest';
import { ClueInputError } from '../../../extension/src/errors';
import type { HostServices } from '../../../extension/src/viewer/hostTypes';
import { getViewportDisplaySet } from '../../../extension/src/viewer/readSlice';

function servicesWith(viewportUids: string[], displaySets: Record<string, object>): HostServices {
  return {
    viewportGridService: {
      getActiveViewportId: () => 'vp',
      getState: () => ({ viewports: new Map([['vp', { displaySetInstanceUIDs: viewportUids }]]) }),
    },
    displaySetService: { getDisplaySetByUID: (uid: string) => displaySets[uid] },
  } as unknown as HostServices;
}

const t1 = { displaySetInstanceUID: 't1', Modality: 'MR', imageIds: ['img:1', 'img:2'] };
const seg = {
  displaySetInstanceUID: 'seg',
  Modality: 'SEG',
  imageIds: ['segimg:1'],
  referencedDisplaySetInstanceUID: 't1',
};

describe('getViewportDisplaySet', () => {
  it('returns the image series shown in the viewport', () => {
    expect(getViewportDisplaySet(servicesWith(['t1'], { t1 }), 'vp', 'img:2')).toBe(t1);
  });

  it('returns the referenced series when the viewport lists a SEG drawn over it', () => {
    expect(getViewportDisplaySet(servicesWith(['seg'], { seg, t1 }), 'vp', 'img:1')).toBe(t1);
  });

  it('explains when only a non-image series is shown', () => {
    const report = { displaySetInstanceUID: 'sr', Modality: 'SR', SeriesDescription: 'Report', imageIds: [] };
    expect(() => getViewportDisplaySet(servicesWith(['sr'], { sr: report }), 'vp')).toThrow(ClueInputError);
    expect(() => getViewportDisplaySet(servicesWith(['sr'], { sr: report }), 'vp')).toThrow(
      /SR series “Report”, which has no images/,
    );
  });

  it('explains when the viewport is empty', () => {
    expect(() => getViewportDisplaySet(servicesWith([], {}), 'vp')).toThrow('The active viewport shows no series.');
  });
});
