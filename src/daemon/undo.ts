// Start-up as a sequence of steps, each of which registers how to undo what it changed on the host (a
// socket file, interface offloads, open packet sockets). When a later step fails, the undos registered so far
// run newest first, so a daemon that did not start leaves the host as it found it.

export type UndoFailure = (what: string, err: unknown) => void;

export class UndoStack {
  private readonly steps: { what: string; undo: () => void | Promise<void> }[] = [];

  /** Registers the undo of a step that just changed the host; `what` names it in a failure report. */
  push(what: string, undo: () => void | Promise<void>): void {
    this.steps.push({ what, undo });
  }

  /** How many undos are registered. */
  get size(): number {
    return this.steps.length;
  }

  /** Runs every registered undo, newest first, and forgets them; one that fails is reported and the rest still run. */
  async unwind(onFailure: UndoFailure): Promise<void> {
    while (this.steps.length > 0) {
      const { what, undo } = this.steps.pop()!;
      try {
        await undo();
      } catch (err) {
        onFailure(what, err);
      }
    }
  }
}

/**
 * Opens when start-up has finished. The control socket is taken first, before anything touches the host, so
 * a request can arrive while the interfaces are still being opened: it waits here, and is refused with the
 * start-up error if start-up fails.
 */
export class StartGate {
  private openGate: () => void = () => {};
  private failGate: (err: Error) => void = () => {};
  readonly opened: Promise<void>;

  constructor() {
    this.opened = new Promise<void>((resolve, reject) => {
      this.openGate = resolve;
      this.failGate = reject;
    });
    // Nobody may be waiting when start-up fails; that is not an unhandled rejection.
    this.opened.catch(() => undefined);
  }

  open(): void {
    this.openGate();
  }

  fail(err: Error): void {
    this.failGate(err);
  }
}
