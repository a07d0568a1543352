// Single-slice reading: one stack viewport (1×1) on the study's first image series, opened
// at the middle slice (where the anatomy is, rather than the first, often empty, slice).
// An image or series named in the URL wins, as in OHIF's default protocol: the host's own
// `initialSeriesInstanceUID` / `initialSOPInstanceUID` parameters pick the series (custom
// attribute isDisplaySetFromUrl) and the image (custom attribute sopInstanceLocation, the
// image's index in the display set; the middle slice when the URL names no image of it).
// Host behaviour (OHIF 3.13, its default protocol alike): the viewport keeps that computed
// index in its options, so a series opened in it later from a thumbnail starts at the same
// index (clipped to its length), not at its middle.
import { HANGING_PROTOCOL_ID } from './ids';

const TOOL_GROUP_ID = 'default';

export const clueSingleSliceProtocol = {
  id: HANGING_PROTOCOL_ID,
  name: 'CLUE single slice',
  locked: true,
  protocolMatchingRules: [],
  toolGroupIds: [TOOL_GROUP_ID],
  numberOfPriorsReferenced: 0,
  defaultViewport: {
    viewportOptions: { viewportType: 'stack', toolGroupId: TOOL_GROUP_ID, allowUnmatchedView: true },
    displaySets: [{ id: 'imageSeries', matchedDisplaySetsIndex: -1 }],
  },
  displaySetSelectors: {
    imageSeries: {
      seriesMatchingRules: [
        // Only display sets with image frames (never the SEG/SR of the study).
        { weight: 10, attribute: 'numImageFrames', constraint: { greaterThan: { value: 0 } }, required: true },
        { weight: 20, attribute: 'isDisplaySetFromUrl', constraint: { equals: true } },
      ],
    },
  },
  stages: [
    {
      name: 'single slice',
      viewportStructure: { layoutType: 'grid', properties: { rows: 1, columns: 1 } },
      viewports: [
        {
          viewportOptions: {
            viewportType: 'stack',
            viewportId: 'default',
            toolGroupId: TOOL_GROUP_ID,
            initialImageOptions: { custom: 'sopInstanceLocation', defaultValue: { preset: 'middle' } },
          },
          displaySets: [{ id: 'imageSeries' }],
        },
      ],
    },
  ],
};

export function getHangingProtocolModule() {
  return [{ name: HANGING_PROTOCOL_ID, protocol: clueSingleSliceProtocol }];
}
