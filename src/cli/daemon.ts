// `uvs daemon --config CFG [--rules FILE]`: runs the datapath in the foreground until SIGTERM or SIGINT;
// SIGHUP reloads the rules file.
import { parseArgs } from 'node:util';
import { ConfigError, type InterfaceReader, loadConfig } from '../config/director.js';
import { isSocketLive } from '../control/server.js';
import { Daemon, DaemonError } from '../daemon/daemon.js';
import {
  OffloadRecordError,
  offloadRecordPath,
  restoreCommand,
  restoreRecordedOffloads,
} from '../daemon/offload-record.js';
import { AfPacketError } from '../io/afpacket.js';

export const DAEMON_USAGE = `Usage: uvs daemon --config CONFIG.yaml [--rules RULES] [--log-level LEVEL]
       uvs daemon --config CONFIG.yaml --restore-offloads

Runs the uvs director in the foreground. CONFIG is the director configuration (interfaces, owned
addresses, neighbours, routes, control socket, state file). RULES (ipvsadm-save format) overrides the
config's rules: file; SIGHUP reloads it, keeping what did not change. uvsadm talks to the daemon over its
control socket. LEVEL is one of fatal, error, warn, info (default), debug, trace.

--restore-offloads turns GRO/LRO back on where a daemon with this CONFIG turned them off and was killed
before it could undo that (its record lives beside the control socket), then exits. It refuses while a
daemon answers on the control socket. The next start of the daemon does the same by itself.
`;

/** After an uncaught error, how long the daemon gets to stop cleanly and write its last log lines. */
const FATAL_STOP_MS = 3_000;

export async function daemonMain(args: string[], err: NodeJS.WritableStream): Promise<number> {
  let values: {
    config?: string;
    rules?: string;
    'log-level'?: string;
    'restore-offloads'?: boolean;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        rules: { type: 'string' },
        'log-level': { type: 'string' },
        'restore-offloads': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    err.write(`uvs daemon: ${(e as Error).message}\n${DAEMON_USAGE}`);
    return 2;
  }
  if (values.help) {
    err.write(DAEMON_USAGE);
    return 0;
  }
  if (values.config === undefined) {
    err.write(`uvs daemon: --config is required\n${DAEMON_USAGE}`);
    return 2;
  }
  if (values['restore-offloads']) return restoreOffloads(values.config, err);
  let daemon: Daemon | undefined;
  try {
    daemon = new Daemon({
      configPath: values.config,
      ...(values.rules === undefined ? {} : { rulesPath: values.rules }),
      ...(values['log-level'] === undefined ? {} : { logLevel: values['log-level'] }),
    });
    await daemon.start();
  } catch (e) {
    if (e instanceof DaemonError || e instanceof ConfigError || e instanceof AfPacketError) {
      err.write(`uvs daemon: ${e.message}\n`);
      await daemon?.flushLog();
      return 1;
    }
    throw e;
  }
  return new Promise<number>((resolve) => {
    const stop = () => {
      daemon.stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    process.on('SIGHUP', () => void daemon.reload());
    // A bug must not leave the interfaces captured without a word: say it, stop (bounded), exit 1.
    process.once('uncaughtException', (e) => {
      daemon.log.fatal({ err: e }, 'uncaught error; the daemon stops');
      const deadline = setTimeout(() => resolve(1), FATAL_STOP_MS);
      const stopped = () => {
        clearTimeout(deadline);
        resolve(1);
      };
      daemon.stop().then(stopped, stopped);
    });
  });
}

/** Only the control socket's path is wanted: interfaces named `auto` need not exist for a restore. */
const noInterfaceReads: InterfaceReader = { mac: () => '02:00:00:00:00:00', mtu: () => 1500 };

/** `uvs daemon --restore-offloads`: what a killed daemon left off, back on (src/daemon/offload-record.ts). */
export async function restoreOffloads(configPath: string, err: NodeJS.WritableStream): Promise<number> {
  let control: string;
  try {
    control = loadConfig(configPath, noInterfaceReads).control;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err.write(`uvs daemon: ${e.message}\n`);
    return 1;
  }
  const path = offloadRecordPath(control);
  if (await isSocketLive(control)) {
    err.write(`uvs daemon: a daemon is running on ${control}; it restores GRO/LRO itself when it stops\n`);
    return 1;
  }
  try {
    const report = restoreRecordedOffloads(path);
    if (report.record === undefined) {
      err.write(`uvs daemon: nothing to restore (no ${path}: the last daemon stopped cleanly, or none ran)\n`);
      return 0;
    }
    for (const r of report.restored) {
      err.write(`uvs daemon: ${r.name}: ${r.features.join(', ')} back on (turned off by pid ${report.record.pid})\n`);
    }
    for (const f of report.failed) {
      err.write(
        `uvs daemon: ${f.name}: could not turn ${f.features.join(', ')} back on: ${f.error} -- fix: ${restoreCommand(f.name, f.features)}\n`,
      );
    }
    return report.failed.length === 0 ? 0 : 1;
  } catch (e) {
    if (!(e instanceof OffloadRecordError)) throw e;
    err.write(`uvs daemon: ${e.message}\n`);
    return 1;
  }
}
