/**
 * A few seconds of the real bench, for correctness only: every acknowledged
 * message reaches every member once, in order. Timing goals live in the bench.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../../bench/cli.ts', import.meta.url));

function bench(args: string[]): Promise<{ code: number | null; result: any; output: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (err += d));
    proc.on('exit', (code) => {
      const line = out.split('\n').find((l) => l.startsWith('{"scenario"'));
      resolve({ code, result: line ? JSON.parse(line) : null, output: out + err });
    });
  });
}

describe('bench smoke runs', () => {
  it('groups: nothing lost, duplicated or reordered', async () => {
    const r = await bench(['--scenario', 'groups', '--clients', '30', '--group', '5', '--rate', '300', '--duration', '2']);
    expect(r.code, r.output).toBe(0);
    const [res] = r.result.results;
    expect(res.acknowledged).toBeGreaterThan(300);
    expect(res.delivered).toBe(res.acknowledged * 5);
    expect([res.lost, res.duplicated, res.outOfOrder]).toEqual([0, 0, 0]);
  });

  it('reconnect-storm: every client resumes and misses nothing', async () => {
    const r = await bench(['--scenario', 'reconnect-storm', '--clients', '40', '--group', '4', '--rate', '200', '--duration', '3']);
    expect(r.code, r.output).toBe(0);
    const [res] = r.result.results;
    expect(res.resumeMs).not.toBeNull();
    expect(res.acknowledged).toBe(res.sent);
    expect([res.lost, res.duplicated, res.outOfOrder]).toEqual([0, 0, 0]);
  });
});
