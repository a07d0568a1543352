// Our own React 18 root inside an element the host rendered. The host's React never calls
// our hooks (two React copies cannot share hooks); it only renders a plain div.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { CluePanel, type CluePanelProps } from './CluePanel';

/** Mounts the panel into `node`; returns the function that unmounts it. */
export function mountPanelIsland(node: HTMLElement, props: CluePanelProps): () => void {
  const root = createRoot(node);
  root.render(
    <StrictMode>
      <CluePanel {...props} />
    </StrictMode>,
  );
  return () => root.unmount();
}
