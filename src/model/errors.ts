// Errors of the rules model and of the ipvsadm command grammar. Each has a stable code for programs and the
// message ipvsadm prints for the same mistake, so a uvsadm user sees what an ipvsadm user would see.

export const RulesErrorCode = {
  // Command-line grammar (ipvsadm's fail(2, ...) and popt errors, exit 2 / 255 there).
  usage: 'usage',
  badOption: 'badOption',
  badValue: 'badValue',
  // uvs refusals: valid ipvsadm, but a feature uvs does not have.
  unsupported: 'unsupported',
  // ipvsadm's checks in process_options().
  zeroPort: 'zeroPort',
  onePacketNotUdp: 'onePacketNotUdp',
  // Kernel errors, with ipvs_strerror()'s text.
  serviceExists: 'serviceExists',
  noSuchService: 'noSuchService',
  serviceNotDefined: 'serviceNotDefined',
  destExists: 'destExists',
  noSuchDest: 'noSuchDest',
  schedulerNotFound: 'schedulerNotFound',
  thresholdRange: 'thresholdRange',
  // A rule the director cannot serve (a VIP it does not own, a real server it cannot reach): uvs refuses it
  // where the kernel would refuse a command, with the same exit status.
  doesNotFit: 'doesNotFit',
  // A rules file or batch line that is not a rule change (-L, -S, -R, ...).
  notARule: 'notARule',
} as const;
export type RulesErrorCode = (typeof RulesErrorCode)[keyof typeof RulesErrorCode];

/** ipvs_strerror()'s messages for the kernel errors, keyed by the code uvs uses for them. */
export const kernelMessages = {
  serviceExists: 'Service already exists',
  noSuchService: 'No such service',
  serviceNotDefined: 'Service not defined',
  destExists: 'Destination already exists',
  noSuchDest: 'No such destination',
  schedulerNotFound: 'Scheduler or persistence engine not found',
  // ip_vs_add_dest()/ip_vs_edit_dest() return -ERANGE when -y exceeds -x; ipvs_strerror() has no entry for
  // it, so ipvsadm prints strerror(ERANGE).
  thresholdRange: 'Numerical result out of range',
} as const;

export class RulesError extends Error {
  readonly code: RulesErrorCode;
  /** The message without the line prefix. */
  readonly reason: string;
  /** 1-based line of a rules file or batch, when the error came from one. */
  readonly line: number | undefined;

  constructor(code: RulesErrorCode, reason: string, line?: number) {
    super(line === undefined ? reason : `line ${line}: ${reason}`);
    this.name = 'RulesError';
    this.code = code;
    this.reason = reason;
    this.line = line;
  }

  /** The same error, attributed to a line of a file or batch. */
  atLine(line: number): RulesError {
    return new RulesError(this.code, this.reason, line);
  }
}

export function kernelError(code: keyof typeof kernelMessages): RulesError {
  return new RulesError(code, kernelMessages[code]);
}
