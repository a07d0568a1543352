// Small helpers every derived object relies on: DS text, dates, the algorithm version string.
import { describe, expect, it } from 'vitest';

import { algorithmVersion, decimalString, dicomDate, dicomTime } from '../../../extension/src/dicom/common';

describe('decimalString (DS: at most 16 characters)', () => {
  it('keeps short values as they are and shortens long ones to the nearest that fits', () => {
    expect(decimalString(-12.5)).toBe('-12.5');
    expect(decimalString(0.30000000000000004)).toBe('0.3');
    expect(decimalString(1e-30)).toBe('1e-30');
    for (const value of [-123.45678901234567, 1.2345678901234567e-7, 98765.43210987654, -0.000123456789012345]) {
      const text = decimalString(value);
      expect(text.length).toBeLessThanOrEqual(16);
      expect(Math.abs(Number(text) - value)).toBeLessThanOrEqual(Math.abs(value) * 1e-9);
    }
  });

  it('refuses a non-finite value', () => {
    expect(() => decimalString(Number.NaN)).toThrow(/cannot be written as a DICOM decimal/);
  });
});

describe('dates and versions', () => {
  it('writes UTC date and time', () => {
    const when = new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 67));
    expect(dicomDate(when)).toBe('20260102');
    expect(dicomTime(when)).toBe('030405.067');
  });

  it('AlgorithmVersion fits LO (64) with the version and the start of the hash', () => {
    const version = algorithmVersion({ id: 'm', version: '1.2.3', sha256: 'f'.repeat(64) });
    expect(version).toBe(`1.2.3 sha256:${'f'.repeat(51)}`);
    expect(version.length).toBe(64);
    const long = algorithmVersion({ id: 'm', version: 'v'.repeat(60), sha256: 'f'.repeat(64) });
    expect(long.length).toBe(64);
    expect(long).toContain('sha256:ffff');
  });
});
