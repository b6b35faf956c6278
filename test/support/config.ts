import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config/load.ts';

/** The path → message of each problem parseConfig reports for `yaml`; fails the test when it parses. */
export function configIssues(yaml: string): Record<string, string> {
  try {
    parseConfig(yaml, 'inline', {});
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return Object.fromEntries(e.issues.map((i) => [i.path, i.message]));
  }
  assert.fail('expected a ConfigError');
}

/** The path of each problem parseConfig reports for `yaml`, in order (a path twice if reported twice). */
export function configIssuePaths(yaml: string): string[] {
  try {
    parseConfig(yaml, 'inline', {});
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.issues.map((i) => i.path);
  }
  assert.fail('expected a ConfigError');
}
