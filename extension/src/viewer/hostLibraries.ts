// The host's own Cornerstone, obtained at run time through OHIF's cornerstone utility
// module. We never bundle Cornerstone: a second copy would have its own cache and rendering
// engines and would see none of the viewer's images.
import type { HostCornerstone, HostCornerstoneTools, HostExtensionManager } from './hostTypes';

const COMMON_UTILITY_ENTRY = '@ohif/extension-cornerstone.utilityModule.common';

export interface HostLibraries {
  cornerstone: HostCornerstone;
  cornerstoneTools: HostCornerstoneTools;
}

export class HostUnavailableError extends Error {
  override name = 'HostUnavailableError';
}

/** OHIF's loader of whole DICOM instances (what its own SEG and Parametric Map loaders use). */
export interface HostDicomLoader {
  findDicomDataPromise(
    displaySet: unknown,
    studies: null,
    headers: Record<string, string> | undefined,
  ): Promise<ArrayBuffer> | undefined;
}

/** What OHIF's cornerstone extension exports from its common utility module, as far as we use it. */
interface CommonUtilities {
  getCornerstoneLibraries?: () => HostLibraries;
  dicomLoaderService?: HostDicomLoader;
}

function commonUtilities(extensionManager: HostExtensionManager): CommonUtilities | undefined {
  const entry = extensionManager.getModuleEntry(COMMON_UTILITY_ENTRY) as { exports?: CommonUtilities } | undefined;
  return entry?.exports;
}

export function getHostDicomLoader(extensionManager: HostExtensionManager): HostDicomLoader {
  const loader = commonUtilities(extensionManager)?.dicomLoaderService;
  if (typeof loader?.findDicomDataPromise !== 'function') {
    throw new HostUnavailableError(`The viewer's ${COMMON_UTILITY_ENTRY} has no dicomLoaderService`);
  }
  return loader;
}

export function getHostLibraries(extensionManager: HostExtensionManager): HostLibraries {
  const getLibraries = commonUtilities(extensionManager)?.getCornerstoneLibraries;
  if (typeof getLibraries !== 'function') {
    throw new HostUnavailableError(
      `The viewer has no ${COMMON_UTILITY_ENTRY} (is @ohif/extension-cornerstone registered?)`,
    );
  }
  const libraries = getLibraries();
  if (!libraries?.cornerstone?.cache || !libraries?.cornerstoneTools?.segmentation) {
    throw new HostUnavailableError('The viewer returned incomplete Cornerstone libraries');
  }
  return libraries;
}
