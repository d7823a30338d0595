// `uvs simulate --rules RULES [--events FILE|-]`: reads events as JSON lines and prints one JSON line per
// `open`. A bad line is reported on stderr with its number and the stream goes on; the exit status is 1 if
// any line was bad.
import { createReadStream, readFileSync } from 'node:fs';
import { stdin } from 'node:process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { SimulationError, Simulator } from '../sim/simulator.js';

export const SIMULATE_USAGE = `Usage: uvs simulate --rules RULES_FILE [--events FILE|-]

RULES_FILE is in ipvsadm-save -n format. Events are JSON lines (default: stdin):
  {"op":"open","proto":"tcp","client":"CIP:CPORT","service":"VIP:PORT"}   prints {"dest":"RIP:PORT"}
  {"op":"close","client":"CIP:CPORT","service":"VIP:PORT"}                 FIN exchange: becomes inactive
  {"op":"expire","client":"CIP:CPORT","service":"VIP:PORT"}                removes the connection
  {"op":"advance","seconds":N}                                              moves the clock on
  {"op":"edit","rule":"-e -t VIP:PORT -r RIP:PORT -w 0"}                    applies an ipvsadm-style change
`;

export async function simulateMain(
  args: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  let values: { rules?: string; events?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { rules: { type: 'string' }, events: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (e) {
    err.write(`uvs simulate: ${(e as Error).message}\n${SIMULATE_USAGE}`);
    return 2;
  }
  if (values.help) {
    out.write(SIMULATE_USAGE);
    return 0;
  }
  if (values.rules === undefined) {
    err.write(`uvs simulate: --rules is required\n${SIMULATE_USAGE}`);
    return 2;
  }
  let sim: Simulator;
  try {
    sim = new Simulator(readFileSync(values.rules, 'utf8'));
  } catch (e) {
    err.write(`uvs simulate: ${values.rules}: ${(e as Error).message}\n`);
    return 1;
  }
  const input = values.events === undefined || values.events === '-' ? stdin : createReadStream(values.events);
  let lineNo = 0;
  let failed = false;
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    lineNo++;
    if (line.trim() === '') continue;
    try {
      const result = sim.handle(JSON.parse(line));
      if (result !== undefined) out.write(`${JSON.stringify(result)}\n`);
    } catch (e) {
      if (!(e instanceof SimulationError || e instanceof SyntaxError)) throw e;
      failed = true;
      err.write(`uvs simulate: events line ${lineNo}: ${e.message}\n`);
    }
  }
  return failed ? 1 : 0;
}
