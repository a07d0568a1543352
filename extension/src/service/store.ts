// A tiny observable store: ClueService writes, the panel subscribes (useSyncExternalStore).
// No polling, no timers: every change notifies its listeners synchronously.

export type Listener = () => void;

export interface Store<T> {
  getState(): T;
  /** Shallow-merges a partial state (or the result of an updater) and notifies listeners. */
  setState(update: Partial<T> | ((state: T) => Partial<T>)): void;
  subscribe(listener: Listener): () => void;
}

export function createStore<T extends object>(initial: T): Store<T> {
  let state = initial;
  const listeners = new Set<Listener>();
  return {
    getState: () => state,
    setState(update) {
      const partial = typeof update === 'function' ? update(state) : update;
      // A new object each time, so React's snapshot comparison sees the change.
      state = { ...state, ...partial };
      // Copy first: a listener may unsubscribe itself while we iterate.
      for (const listener of [...listeners]) {
        listener();
      }
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  };
}

/** What a reader needs of a store: the panel reads state and subscribes, never writes. */
export type StateSource<T> = Pick<Store<T>, 'getState' | 'subscribe'>;
