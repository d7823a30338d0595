// The running rules and the state file kept in step: a change is either saved or undone. uvsadm's changes and
// SIGHUP reloads are applied to the core first (that is where they are checked), then saved; when the save
// fails (disk full, directory gone, read-only file system), the rules go back to what the state file holds,
// so the daemon never runs rules a restart would lose, and the caller tells the client nothing was applied.
//
// What was saved is kept as the text written, not as a snapshot: a snapshot shares its destination objects with
// the running rules, so an edit (-e) would change the "saved" copy too and leave nothing to undo.

import type { IpvsCore } from '../ipvs/core.js';
import { diffRules, snapshotOf } from '../model/diff.js';
import type { RulesSnapshot } from '../model/rules.js';
import { parseRules } from '../model/save-format.js';

export class PersistedRules {
  private savedText: string;

  constructor(
    private readonly core: IpvsCore,
    /** The state file's text for a snapshot (parseRules() must read it back to the same rules). */
    private readonly render: (snapshot: RulesSnapshot) => string,
    /** Writes the text to the state file, atomically; throws when it could not. */
    private readonly write: (text: string) => Promise<void>,
  ) {
    this.savedText = render(core.rules.snapshot);
  }

  /** Takes the running rules as what the state file holds (after loading them at start). */
  markSaved(): void {
    this.savedText = this.render(this.core.rules.snapshot);
  }

  /** Saves the running rules; when that fails, puts back the rules last saved and rethrows the save's error. */
  async commit(): Promise<void> {
    const text = this.render(this.core.rules.snapshot);
    try {
      await this.write(text);
    } catch (err) {
      this.rollBack();
      throw err;
    }
    this.savedText = text;
  }

  /** Only what differs is undone, so services the change did not touch keep their connections and counters. */
  private rollBack(): void {
    const target = snapshotOf(parseRules(this.savedText));
    const commands = diffRules(this.core.rules.snapshot, target);
    if (commands.length > 0) this.core.applyRules(commands.map((command) => ({ command })));
  }
}
