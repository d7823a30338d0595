// `uvs rs nat|dr|tun`: the real-server helpers (the seed tutorial's rs scripts), each idempotent and with an
// `--undo` that puts back what was there before.
import { parseArgs } from 'node:util';
import { applyDr, undoDr } from './dr.js';
import { applyNat, type RsOptions, undoNat } from './nat.js';
import { DEFAULT_STATE_DIR, hasNetAdmin, RsError } from './system.js';
import { DEFAULT_TUN_NAME, TunDecapsulator, undoTun } from './tun.js';

export const RS_USAGE = `Usage: uvs rs nat --dip DIP [--undo]
       uvs rs dr  --vip VIP [--undo]
       uvs rs tun --vip VIP [--dev NAME] [--tun NAME] [--busy]   (runs until SIGTERM/SIGINT)
       uvs rs tun --undo                                         (after the decapsulator was killed)

Sets up this host as an LVS real server, in the current network namespace:
  nat  default route via the director's DIP, so replies go back through it
  dr   VIP on lo as /32, arp_ignore=1 and arp_announce=2 (lo and all), rp_filter loose
  tun  as dr, plus a user-space IPIP decapsulator feeding a TUN device (default ${DEFAULT_TUN_NAME}) that
       holds the VIP; for kernels without the ipip module
Running a helper twice changes nothing the second time. --undo restores what was there before, from the
state recorded under --state-dir (default ${DEFAULT_STATE_DIR}).
`;

export async function rsMain(args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const [mode, ...rest] = args;
  let values: {
    dip?: string;
    vip?: string;
    dev?: string;
    tun?: string;
    undo?: boolean;
    busy?: boolean;
    'state-dir'?: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        dip: { type: 'string' },
        vip: { type: 'string' },
        dev: { type: 'string' },
        tun: { type: 'string' },
        undo: { type: 'boolean' },
        busy: { type: 'boolean' },
        'state-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    err.write(`uvs rs: ${(e as Error).message}\n${RS_USAGE}`);
    return 2;
  }
  if (values.help || mode === undefined || mode === 'help' || mode === '-h' || mode === '--help') {
    out.write(RS_USAGE);
    return mode === undefined ? 2 : 0;
  }
  if (mode !== 'nat' && mode !== 'dr' && mode !== 'tun') {
    err.write(`uvs rs: unknown mode '${mode}'\n${RS_USAGE}`);
    return 2;
  }
  const opts: RsOptions = {
    stateDir: values['state-dir'] ?? DEFAULT_STATE_DIR,
    log: (line) => out.write(`${line}\n`),
  };
  const needed = mode === 'nat' ? 'dip' : 'vip';
  if (!values.undo && values[needed] === undefined) {
    err.write(`uvs rs ${mode}: --${needed} is required\n${RS_USAGE}`);
    return 2;
  }
  if (!hasNetAdmin()) {
    err.write(`uvs rs: changing routes, addresses and sysctls needs root or CAP_NET_ADMIN; run it with sudo\n`);
    return 1;
  }
  try {
    if (mode === 'nat') {
      if (values.undo) undoNat(opts);
      else applyNat(values.dip as string, opts);
      return 0;
    }
    if (mode === 'dr') {
      if (values.undo) undoDr(opts);
      else applyDr(values.vip as string, opts);
      return 0;
    }
    if (values.undo) {
      undoTun(opts);
      return 0;
    }
    return await runTun({
      ...opts,
      vip: values.vip as string,
      dev: values.dev,
      tunName: values.tun,
      wake: values.busy ? 'busy' : 'poll',
    });
  } catch (e) {
    if (e instanceof RsError) {
      err.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** Runs the decapsulator until SIGTERM or SIGINT, then removes what it set up and prints its counters. */
function runTun(opts: Parameters<typeof TunDecapsulator.start>[0]): Promise<number> {
  const decap = TunDecapsulator.start(opts);
  opts.log(
    `uvs rs tun: decapsulating IPIP to ${decap.rips.join(', ')} on ${decap.dev} into ${decap.tunName} (VIP ${opts.vip}); stop with SIGTERM`,
  );
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      decap.stop();
      opts.log(`uvs rs tun: stopped by ${signal}; counters ${decap.statsLine()}`);
      resolve(0);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
