import { describe, expect, it } from 'vitest';
import { createListeners } from './listeners.ts';

describe('createListeners', () => {
  it('reaches every listener even when one throws, then reports the failure', () => {
    const listeners = createListeners<number>();
    const seen: number[] = [];
    listeners.add(() => {
      throw new Error('boom');
    });
    listeners.add((n) => seen.push(n));
    expect(() => listeners.emit(1)).toThrow('boom');
    expect(seen).toEqual([1]);
  });

  it('skips a listener unsubscribed by an earlier one during the same emit', () => {
    const listeners = createListeners<number>();
    const seen: string[] = [];
    let offB = () => {};
    listeners.add(() => {
      seen.push('a');
      offB();
    });
    offB = listeners.add(() => seen.push('b'));
    listeners.emit(1);
    expect(seen).toEqual(['a']);
    expect(listeners.size).toBe(1);
  });
});
