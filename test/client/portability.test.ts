/**
 * The SDK must run in browsers as well as Node: nothing it loads at run time
 * may be a Node built-in or `ws`. Walks the value imports reachable from
 * client/index.ts (type-only imports vanish when types are stripped).
 */
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const IMPORT = /^\s*(import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'/gm;

function walk(entry: string) {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[2] ?? m[3]!;
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files: [...files].map((f) => f.slice(root.length + 1)), packages: [...packages] };
}

describe('the SDK is portable', () => {
  it('loads no package at all at run time: no Node built-in, no ws, not even zod', () => {
    const { files, packages } = walk(resolve(root, 'client/index.ts'));
    expect(files).toContain('client/connection.ts');
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
    expect(packages.filter((p) => builtins.has(p) || p.startsWith('node:'))).toEqual([]);
    expect(packages).toEqual([]);
  });

  it('uses no Node-only globals in its own modules', () => {
    const { files } = walk(resolve(root, 'client/index.ts'));
    for (const f of files.filter((f) => f.startsWith('client/'))) {
      const code = readFileSync(resolve(root, f), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/.*$/gm, '');
      expect(code, f).not.toMatch(/\b(Buffer|process|require|__dirname|setImmediate)\b/);
    }
  });
});
