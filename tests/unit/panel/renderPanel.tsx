// The panel rendered to static HTML (React's server renderer) over a store, with no-op
// callbacks: what the panel tests read their cells from.
import { renderToStaticMarkup } from 'react-dom/server';
import { CluePanel } from '../../../extension/src/panel/CluePanel';
import { createClueStore, type ClueStore } from '../../../extension/src/service/state';

const noop = () => {};

export function renderPanel(store: ClueStore = createClueStore()): string {
  return renderToStaticMarkup(
    <CluePanel
      store={store}
      onRun={noop}
      onRunSeries={noop}
      onCancel={noop}
      onThresholdChange={noop}
      onOpacityChange={noop}
      onClear={noop}
    />,
  );
}
