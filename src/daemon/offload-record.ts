// What `uvs daemon` turned off on its capture interfaces (GRO, LRO), kept in a small file while it runs, so
// that a daemon that could not turn them back on itself (SIGKILL, a crash, a watchdog kill) does not leave
// the host changed: the next start, or `uvs daemon --restore-offloads`, turns them back on from the record.
//
// The record lives beside the control socket (`<control>.offloads.json`, /run/uvs/uvs.sock.offloads.json by
// default): a control socket belongs to one daemon at a time, so two configurations never share a record, and
// a daemon that holds the socket owns the record too. /run is emptied at boot, when the interfaces come back
// with their driver's defaults anyway. Interfaces belong to a network namespace, so the record names the one it
// was written in, and a restore from another namespace is refused rather than applied to the wrong interfaces.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { tempPathFor } from '../control/state-file.js';
import { type Offloads, setOffloads } from '../io/offloads.js';

export type CoalescingFeature = 'gro' | 'lro';

export interface OffloadRecord {
  /** The daemon that wrote it. */
  readonly pid: number;
  /** The network namespace it ran in (`net:[inode]`, as /proc/PID/ns/net reads). */
  readonly netns: string;
  /** Per interface, the features that were on and that the daemon turned off. */
  readonly interfaces: Readonly<Record<string, readonly CoalescingFeature[]>>;
}

export class OffloadRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OffloadRecordError';
  }
}

const FEATURES: readonly CoalescingFeature[] = ['gro', 'lro'];

/** Where the daemon with control socket `controlPath` keeps its record. */
export function offloadRecordPath(controlPath: string): string {
  return join(dirname(controlPath), `${basename(controlPath)}.offloads.json`);
}

/** This process's network namespace, `net:[inode]`. */
export function currentNetns(): string {
  return `net:[${statSync('/proc/self/ns/net').ino}]`;
}

/**
 * Writes the record atomically, as the state file is written (src/control/state-file.ts): a kill at any
 * moment leaves the old record or the new one, whole. Synchronous, because it must be on disk before the
 * offloads change, and the daemon changes them from synchronous code too (re-opening a port).
 */
export function writeOffloadRecord(path: string, record: OffloadRecord): void {
  const temp = tempPathFor(path);
  let renamed = false;
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(record)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    renamed = true;
    const dir = openSync(dirname(path), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  } finally {
    if (!renamed) {
      try {
        unlinkSync(temp);
      } catch {
        // Never created, or already gone: nothing to clean.
      }
    }
  }
}

/** The record at `path`, or undefined when there is none. Throws OffloadRecordError when it is not one. */
export function readOffloadRecord(path: string): OffloadRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new OffloadRecordError(`${path}: ${(err as Error).message}`);
  }
  const bad = (why: string) =>
    new OffloadRecordError(`${path}: not an offload record written by uvs (${why}); check GRO/LRO by hand`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw bad((err as Error).message);
  }
  if (typeof value !== 'object' || value === null) throw bad('not a JSON object');
  const { pid, netns, interfaces } = value as Record<string, unknown>;
  if (!Number.isInteger(pid)) throw bad('no pid');
  if (typeof netns !== 'string') throw bad('no netns');
  if (typeof interfaces !== 'object' || interfaces === null || Array.isArray(interfaces)) throw bad('no interfaces');
  for (const [name, features] of Object.entries(interfaces)) {
    if (!Array.isArray(features) || !features.every((f) => FEATURES.includes(f))) {
      throw bad(`interface ${name}: features must be a list of ${FEATURES.join(', ')}`);
    }
  }
  return { pid: pid as number, netns, interfaces: interfaces as OffloadRecord['interfaces'] };
}

/** Deletes the record; one that is already gone is fine. */
export function removeOffloadRecord(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

export interface RestoreReport {
  /** The record acted on, or undefined when there was none (nothing to do). */
  readonly record: OffloadRecord | undefined;
  readonly restored: readonly { name: string; features: readonly CoalescingFeature[] }[];
  readonly failed: readonly { name: string; features: readonly CoalescingFeature[]; error: string }[];
}

export type OffloadSetter = (dev: string, want: Partial<Offloads>) => void;

/**
 * Turns back on what the record at `path` says a daemon turned off, then deletes the record: an interface
 * that refuses is reported (with the command to do it by hand) and not retried, since a record kept for an
 * interface that is gone would be replayed at every start. A record from another network namespace is
 * refused and kept, for a restore run where it belongs.
 */
export function restoreRecordedOffloads(
  path: string,
  set: OffloadSetter = (dev, want) => setOffloads(null, dev, want),
  netns = currentNetns(),
): RestoreReport {
  const record = readOffloadRecord(path);
  if (record === undefined) return { record, restored: [], failed: [] };
  if (record.netns !== netns) {
    throw new OffloadRecordError(
      `${path} was written in network namespace ${record.netns}, this is ${netns}: run the restore there (ip netns exec NAME uvs daemon --restore-offloads ...)`,
    );
  }
  const restored: { name: string; features: CoalescingFeature[] }[] = [];
  const failed: { name: string; features: CoalescingFeature[]; error: string }[] = [];
  for (const [name, features] of Object.entries(record.interfaces)) {
    if (features.length === 0) continue;
    try {
      set(name, Object.fromEntries(features.map((f) => [f, true])));
      restored.push({ name, features: [...features] });
    } catch (err) {
      failed.push({ name, features: [...features], error: (err as Error).message });
    }
  }
  removeOffloadRecord(path);
  return { record, restored, failed };
}

/** `ethtool -K DEV gro on lro on`: what to run by hand when a restore failed. */
export function restoreCommand(name: string, features: readonly CoalescingFeature[]): string {
  return `ethtool -K ${name} ${features.map((f) => `${f} on`).join(' ')}`;
}
