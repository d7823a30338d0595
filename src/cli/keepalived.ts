// `uvs keepalived rules FILE`: the IPVS rules keepalived would load from FILE at start with every real server
// up, printed as `ipvsadm-save -n` (and `uvsadm -S -n`) prints them. What keepalived would warn about and
// still run with goes to stderr with FILE:LINE; the blocks uvs does not use are named once each. A
// configuration error prints every error (and nothing else) as FILE:LINE: reason and exits 1.
import { KeepalivedConfigError, parseKeepalivedConfig } from '../keepalived/config.js';
import type { KeepalivedConfig } from '../keepalived/model.js';
import { keepalivedSnapshot } from '../keepalived/rules.js';
import { formatDiagnostic } from '../keepalived/syntax.js';
import { formatRules } from '../model/save-format.js';

const PROGRAM = 'uvs keepalived';

export const KEEPALIVED_USAGE = `Usage: uvs keepalived rules FILE

Reads a keepalived configuration (keepalived.conf and the files it includes) and prints the IPVS rules
keepalived would load at start with every real server up, in ipvsadm-save -n format (-A/-a lines, in
ipvsadm -S order). Warnings (what keepalived would report and still run with) and the blocks uvs does not
use go to stderr. Exits 1 with FILE:LINE and the reason on a configuration error, 2 on a usage error.
`;

/** The stderr lines for what was read but not used, and for keepalived's warnings. */
export function describeFindings(config: KeepalivedConfig): string {
  let out = '';
  for (const w of config.warnings) out += `${PROGRAM}: warning: ${formatDiagnostic(w)}\n`;
  for (const i of config.ignored) {
    const times = i.count > 1 ? ` (${i.count} times, first at ${i.file}:${i.line})` : ` (${i.file}:${i.line})`;
    out += `${PROGRAM}: ignored: ${i.keyword}${times}: ${i.why}\n`;
  }
  return out;
}

export function keepalivedMain(args: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === 'help' || sub === '-h' || sub === '--help') {
    (sub === undefined ? err : out).write(KEEPALIVED_USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'rules') {
    err.write(`${PROGRAM}: unknown subcommand '${sub}'\n${KEEPALIVED_USAGE}`);
    return 2;
  }
  if (rest.length !== 1 || rest[0]!.startsWith('-')) {
    err.write(`${PROGRAM} rules: exactly one FILE expected\n${KEEPALIVED_USAGE}`);
    return 2;
  }
  const { config, errors } = parseKeepalivedConfig(rest[0]!);
  // Only the errors when there are some: a warning about a default filled in for a refused block would mislead.
  if (errors.length > 0) {
    for (const e of errors) err.write(`${formatDiagnostic(e)}\n`);
    return 1;
  }
  err.write(describeFindings(config));
  try {
    out.write(formatRules(keepalivedSnapshot(config)));
  } catch (e) {
    if (!(e instanceof KeepalivedConfigError)) throw e;
    for (const d of e.diagnostics) err.write(`${formatDiagnostic(d)}\n`);
    return 1;
  }
  return 0;
}
