// The host check: the extension tells a tested OHIF release from another by the Cornerstone
// version the host runs (the prebuilt viewer exposes no version of its own), and the panel
// shows a caution outside the tested range.
import { describe, expect, it } from 'vitest';
import { createClueService } from '../../../extension/src/service/ClueService';
import { createClueStore } from '../../../extension/src/service/state';
import { checkHostVersion, TESTED_HOSTS } from '../../../extension/src/viewer/hostVersion';
import type { HostExtensionParams } from '../../../extension/src/viewer/hostTypes';
import { renderPanel } from '../panel/renderPanel';

function paramsWithCornerstone(version: string | undefined) {
  const segmentationService = {
    EVENTS: { SEGMENTATION_REMOVED: 'removed' },
    subscribe: () => ({ unsubscribe: () => {} }),
  };
  const libraries = {
    cornerstone: { version, cache: {} },
    cornerstoneTools: { segmentation: {} },
  };
  return {
    servicesManager: { services: { segmentationService } },
    extensionManager: { getModuleEntry: () => ({ exports: { getCornerstoneLibraries: () => libraries } }) },
    commandsManager: { runCommand: () => undefined },
  } as unknown as HostExtensionParams;
}

describe('host version check', () => {
  it('knows the Cornerstone versions of the three tested OHIF releases (read from their bundles)', () => {
    expect(checkHostVersion('5.6.8')).toEqual({
      cornerstoneVersion: '5.6.8',
      testedAs: 'OHIF 3.13.2 and 3.14.0-beta.6',
      caution: null,
    });
    expect(checkHostVersion('4.15.29').testedAs).toBe('OHIF 3.12.10');
    expect(Object.keys(TESTED_HOSTS).sort()).toEqual(['4.15.29', '5.6.8']);
  });

  it('cautions on another version, and on a host that does not say', () => {
    const other = checkHostVersion('6.0.0');
    expect(other.testedAs).toBeNull();
    expect(other.caution).toMatch(/Cornerstone 6\.0\.0, which none of the tested hosts/);
    expect(checkHostVersion(undefined).caution).toMatch(/does not report its Cornerstone version/);
    expect(checkHostVersion('  ').cornerstoneVersion).toBeNull();
  });

  it('the service checks the host on mode entry, and the panel shows the caution only outside the range', () => {
    for (const [version, cautioned] of [
      ['5.6.8', false],
      ['7.1.0', true],
    ] as const) {
      const store = createClueStore();
      const service = createClueService(paramsWithCornerstone(version), store);
      expect(store.getState().host).toBeNull();
      service.onModeEnter();
      expect(store.getState().host?.cornerstoneVersion).toBe(version);
      const html = renderPanel(store);
      expect(html.includes('data-testid="clue-host-caution"')).toBe(cautioned);
    }
  });
});
