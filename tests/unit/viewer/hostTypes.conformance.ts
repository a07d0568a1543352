// Compile-time only (tsc, `npm test`'s type check): the host's published Cornerstone types,
// pinned to the versions OHIF 3.13.2 and 3.14.0-beta.6 run (5.6.8, devDependencies, type
// imports only — nothing is bundled), must be assignable to the narrow views our viewer/ code
// is written against. A renamed method, a changed signature or a newly optional result in the
// host's API fails here instead of in a browser. (OHIF 3.12.10 runs Cornerstone 4.15.29; its
// packages cannot be installed beside 5.6.8's peer dependencies, so it is covered by the e2e.)
import type * as Core from '@cornerstonejs/core';
import type * as Tools from '@cornerstonejs/tools';
import type { HostCornerstone, HostCornerstoneTools } from '../../../extension/src/viewer/hostTypes';

export function hostCornerstone(published: typeof Core): HostCornerstone {
  return published;
}

export function hostCornerstoneTools(published: typeof Tools): HostCornerstoneTools {
  return published;
}
