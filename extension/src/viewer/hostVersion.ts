// Which host we run in, as far as the host lets us tell. The prebuilt OHIF viewer does not
// expose its own version at run time (it is only baked into its About dialog), but the
// Cornerstone it runs on does: `@cornerstonejs/core` exports `version`. Each tested OHIF
// release pins one Cornerstone release, so that version tells a tested host from another.

/** Cornerstone core versions of the OHIF releases the e2e matrix runs (docs/deploy.md). */
export const TESTED_HOSTS: Readonly<Record<string, string>> = Object.freeze({
  '4.15.29': 'OHIF 3.12.10',
  '5.6.8': 'OHIF 3.13.2 and 3.14.0-beta.6',
});

export interface HostCheck {
  /** The host's @cornerstonejs/core version; null when it does not say. */
  cornerstoneVersion: string | null;
  /** The OHIF release(s) tested with that Cornerstone; null when untested. */
  testedAs: string | null;
  /** A caution for the panel when the host is outside the tested range; null inside it. */
  caution: string | null;
}

const TESTED_LIST = 'OHIF 3.12.10, 3.13.2 and 3.14.0-beta.6';

export function checkHostVersion(cornerstoneVersion: string | undefined | null): HostCheck {
  const version =
    typeof cornerstoneVersion === 'string' && cornerstoneVersion.trim() ? cornerstoneVersion.trim() : null;
  const testedAs = version ? (TESTED_HOSTS[version] ?? null) : null;
  if (testedAs) return { cornerstoneVersion: version, testedAs, caution: null };
  const caution = version
    ? `This viewer runs Cornerstone ${version}, which none of the tested hosts (${TESTED_LIST}) uses: CLUE may misread slices or fail to draw; check results against a tested host.`
    : `This viewer does not report its Cornerstone version, so CLUE cannot tell whether it is one of the tested hosts (${TESTED_LIST}).`;
  return { cornerstoneVersion: version, testedAs: null, caution };
}
