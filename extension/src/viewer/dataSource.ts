// Where STOW-RS goes: the host's active data source, when it is a DICOMweb one that accepts
// stores. Anything else gets a message saying why nothing can be stored.
import { ClueInputError } from '../errors';
import type { HostExtensionManager, HostServices } from './hostTypes';

export interface StowTarget {
  root: string;
  /** The host's Authorization header, when the user is logged in. */
  headers: Record<string, string>;
  sourceName: string;
}

export function stowTarget(extensionManager: HostExtensionManager, services: HostServices): StowTarget {
  const definition = extensionManager.getActiveDataSourceDefinition?.();
  const name = definition?.sourceName ?? 'the active data source';
  const configuration = definition?.configuration ?? {};
  if (!definition) throw new ClueInputError('Store to PACS: the viewer reports no active data source.');
  if (!/dicomweb$/i.test(definition.namespace ?? '') && !configuration.wadoRoot) {
    throw new ClueInputError(
      `Store to PACS: "${name}" is not a DICOMweb data source (${definition.namespace ?? 'unknown kind'}); download the SEG or Parametric Map instead.`,
    );
  }
  if (configuration.supportsStow === false || configuration.readOnly === true) {
    throw new ClueInputError(
      `Store to PACS: "${name}" is configured read-only (no STOW-RS); download the SEG or Parametric Map instead.`,
    );
  }
  const root = configuration.stowRoot ?? configuration.wadoRoot;
  if (typeof root !== 'string' || !root) {
    throw new ClueInputError(`Store to PACS: "${name}" has no wadoRoot to send STOW-RS to.`);
  }
  const headers: Record<string, string> = {};
  const auth = (
    services as unknown as {
      userAuthenticationService?: { getAuthorizationHeader?(): { Authorization?: string } | undefined };
    }
  ).userAuthenticationService?.getAuthorizationHeader?.();
  if (auth?.Authorization) headers.Authorization = auth.Authorization;
  return { root, headers, sourceName: name };
}
