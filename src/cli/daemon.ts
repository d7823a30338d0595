// `uvs daemon --config CFG [--rules FILE]`: runs the datapath in the foreground until SIGTERM or SIGINT;
// SIGHUP reloads the rules file.
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/director.js';
import { Daemon, DaemonError } from '../daemon/daemon.js';
import { AfPacketError } from '../io/afpacket.js';

export const DAEMON_USAGE = `Usage: uvs daemon --config CONFIG.yaml [--rules RULES] [--log-level LEVEL]

Runs the uvs director in the foreground. CONFIG is the director configuration (interfaces, owned
addresses, neighbours, routes, control socket, state file). RULES (ipvsadm-save format) overrides the
config's rules: file; SIGHUP reloads it, keeping what did not change. uvsadm talks to the daemon over its
control socket. LEVEL is one of fatal, error, warn, info (default), debug, trace.
`;

/** After an uncaught error, how long the daemon gets to stop cleanly and write its last log lines. */
const FATAL_STOP_MS = 3_000;

export async function daemonMain(args: string[], err: NodeJS.WritableStream): Promise<number> {
  let values: { config?: string; rules?: string; 'log-level'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        rules: { type: 'string' },
        'log-level': { type: 'string' },
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
