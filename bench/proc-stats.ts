/** CPU seconds and resident memory of server processes, read from /proc (Linux). */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface ProcSample {
  cpuSeconds: number;
  rssBytes: number;
}

function sampleOne(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields overall.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuSeconds, rssBytes: rssKb * 1024 };
  } catch {
    return null; // the process is gone
  }
}

/** The sum over `pids` (processes that have exited count as zero). */
export function sample(pids: number[]): ProcSample {
  let cpuSeconds = 0;
  let rssBytes = 0;
  for (const pid of pids) {
    const s = sampleOne(pid);
    if (s) {
      cpuSeconds += s.cpuSeconds;
      rssBytes += s.rssBytes;
    }
  }
  return { cpuSeconds, rssBytes };
}

/** CPU seconds per command name (node, postgres, redis-server…) over `pids`. */
export function cpuByName(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    const s = sampleOne(pid);
    if (!s) continue;
    let name = 'gone';
    try {
      name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      // exited between the two reads
    }
    out.set(name, (out.get(name) ?? 0) + s.cpuSeconds);
  }
  return out;
}

/** PIDs of every process whose command name is one of `names` (postgres backends, redis-server, nats-server). */
export function pidsNamed(names: string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (names.includes(comm)) pids.push(Number(entry));
    } catch {
      // raced with an exiting process
    }
  }
  return pids;
}
