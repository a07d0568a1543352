import { describe, expect, it } from 'vitest';
import { createStore } from '../../../extension/src/service/store';
import { createClueStore } from '../../../extension/src/service/state';

describe('createStore', () => {
  it('merges partial updates into a new state object and notifies each listener', () => {
    const store = createStore({ a: 1, b: 'x' });
    const before = store.getState();
    const seen: number[] = [];
    store.subscribe(() => seen.push(store.getState().a));
    store.setState({ a: 2 });
    store.setState((s) => ({ a: s.a + 1 }));
    expect(store.getState()).toEqual({ a: 3, b: 'x' });
    expect(store.getState()).not.toBe(before);
    expect(before).toEqual({ a: 1, b: 'x' });
    expect(seen).toEqual([2, 3]);
  });

  it('stops notifying after unsubscribe, also when a listener unsubscribes itself', () => {
    const store = createStore({ n: 0 });
    let calls = 0;
    const unsubscribe = store.subscribe(() => {
      calls++;
      unsubscribe();
    });
    let other = 0;
    store.subscribe(() => other++);
    store.setState({ n: 1 });
    store.setState({ n: 2 });
    expect(calls).toBe(1);
    expect(other).toBe(2);
  });
});

describe('createClueStore', () => {
  it('starts idle with the configured default threshold', () => {
    const store = createClueStore({
      modelUrl: '/m.json',
      defaultThreshold: 0.3,
      extensionUrl: '',
      allowSoftwareGpu: false,
    });
    expect(store.getState()).toMatchObject({ status: 'idle', threshold: 0.3, lastResult: null, error: null });
  });
});
