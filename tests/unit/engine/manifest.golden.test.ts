// The manifest contract, from the shared golden files in tests/golden/manifests. The Python
// parser is tested against the same files (models/tests/test_manifest_golden.py), so a
// manifest one side accepts and the other refuses fails a test on one side.
//
// The JSON Schema (docs/manifest.schema.json) is checked here with Ajv as well as in Python
// with jsonschema: the viewer's side reads regular expressions as ECMA-262, Python's `re`
// differently, and a pattern that meant something else in one of them would show here.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { describe, expect, it } from 'vitest';
import { ManifestError, parseManifest } from '../../../extension/src/engine/manifest';
import { REPO_ROOT } from './golden';

const GOLDEN = path.join(REPO_ROOT, 'tests', 'golden', 'manifests');
const read = (file: string): unknown => JSON.parse(readFileSync(file, 'utf8'));
const jsonFiles = (folder: string): string[] =>
  readdirSync(path.join(GOLDEN, folder))
    .filter((name) => name.endsWith('.json'))
    .sort();

interface Expectation {
  problem: string;
  schema_refuses: boolean;
}
const EXPECTED = (read(path.join(GOLDEN, 'invalid.expected.json')) as { invalid: Record<string, Expectation> }).invalid;
const VALID = jsonFiles('valid');
const INVALID = jsonFiles('invalid');

// strict: refuse keywords Ajv does not know, so a misspelt keyword cannot silently allow anything.
const ajv = new Ajv2020({ strict: true, allErrors: true });
const schemaAccepts = ajv.compile(read(path.join(REPO_ROOT, 'docs', 'manifest.schema.json')) as object);

const problemsOf = (data: unknown): string[] => {
  try {
    parseManifest(data, 'golden.json');
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    return (error as ManifestError).problems;
  }
  return [];
};

describe('golden manifests (tests/golden/manifests)', () => {
  it('has an expectation for every invalid file and a file for every expectation', () => {
    expect(VALID.length).toBeGreaterThan(0);
    expect(Object.keys(EXPECTED).sort()).toEqual(INVALID);
  });

  it.each(VALID)('accepts valid/%s, as the schema does', (name) => {
    const data = read(path.join(GOLDEN, 'valid', name));
    expect(problemsOf(data)).toEqual([]);
    expect(parseManifest(data)).toEqual(data);
    expect(schemaAccepts(data), JSON.stringify(schemaAccepts.errors)).toBe(true);
  });

  it.each(INVALID)('refuses invalid/%s with its stated reason', (name) => {
    const expected = EXPECTED[name]!;
    const data = read(path.join(GOLDEN, 'invalid', name));
    expect(problemsOf(data)).toEqual([expected.problem]); // that rule, and only it
    // Where the rule is beyond JSON Schema the schema must accept the file: the flag says
    // exactly where the parsers are stricter than the schema, and cannot go stale.
    expect(!schemaAccepts(data), JSON.stringify(schemaAccepts.errors)).toBe(expected.schema_refuses);
  });
});
