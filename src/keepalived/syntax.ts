// keepalived.conf's syntax, read as keepalived's lib/parser.c reads it, into a tree of keyword lines that
// remember their file and line:
// - A line is cut at the first `#` or `!` outside double quotes (decomment()); `\#` and `\!` are literal.
// - `include PATTERN` (and includer/m/w/b/a) reads the files a glob pattern matches, relative to the including
//   file's directory, in glob's sorted order, at that point of the text (inside a block too). A pattern that
//   matches nothing is no error, as in keepalived (it logs it; uvs warns).
// - `{` and `}` are lines of their own wherever they appear outside quotes (read_line()), so `foo {` and a
//   `{` on the next line are the same.
// - Words are split on blanks; a double-quoted string is one word without its quotes (alloc_strvec_r()).
// - `@ID line` lines belong to another keepalived instance's config_id and are skipped; `@^ID line` lines
//   are kept (uvs has no config_id, as keepalived run without -i).
// keepalived's $NAME=value definitions and ~SEQ/~LST generators are refused: uvs does not expand them.
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { globFiles } from './glob.js';

/** Where a keyword came from. `file` is the path as the user gave it, or as an include resolved it. */
export interface Location {
  readonly file: string;
  readonly line: number;
}

export interface Diagnostic extends Location {
  readonly message: string;
}

/** FILE:LINE: reason (FILE: reason for a file that could not be read at all). */
export function formatDiagnostic(d: Diagnostic): string {
  return d.line > 0 ? `${d.file}:${d.line}: ${d.message}` : `${d.file}: ${d.message}`;
}

/** One keyword line: its first word, the rest, and the block that follows it, if any. */
export interface ConfigNode extends Location {
  readonly keyword: string;
  readonly args: readonly string[];
  /** The whole line as read, comment removed: script keywords split it again their own way. */
  readonly text: string;
  block: ConfigNode[] | undefined;
}

interface LogicalLine extends Location {
  readonly text: string;
}

/** Deeper include nesting than this is refused. */
const MAX_INCLUDE_DEPTH = 32;
/** More files than this in one configuration is refused (includes repeated at every level multiply). */
export const MAX_FILES_READ = 1000;

/** decomment(): the line without leading blanks, comment and trailing blanks. */
export function decomment(raw: string): string {
  let out = '';
  let quote = false;
  const text = raw.replace(/^[ \t]+/, '');
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      quote = !quote;
    } else if (c === '\\' && i + 1 < text.length) {
      const next = text[i + 1]!;
      if (!quote && (next === '#' || next === '!')) {
        out += next;
        i++;
        continue;
      }
      out += c + next;
      i++;
      continue;
    } else if (!quote && (c === '#' || c === '!')) {
      break;
    }
    out += c;
  }
  return out.replace(/[ \t]+$/, '');
}

/** is_include(): `include` or include[rmwba], then a blank. */
function includePattern(line: string): string | undefined {
  const m = /^include[rmwba]?[ \t]+(.*)$/.exec(line);
  return m === null ? undefined : m[1]!.replace(/^[ \t]+/, '');
}

/** read_line()'s split at the first `{` or `}` outside double quotes: each brace becomes a line of its own. */
function splitBraces(text: string): string[] {
  const out: string[] = [];
  let rest = text;
  while (rest !== '') {
    if (rest[0] === '{' || rest[0] === '}') {
      out.push(rest[0]);
      rest = rest.slice(1).replace(/^[ \t]+/, '');
      continue;
    }
    let i = 0;
    let cut = -1;
    while (i < rest.length) {
      const c = rest[i]!;
      if (c === '"') {
        const close = rest.indexOf('"', i + 1);
        if (close < 0) break;
        i = close + 1;
        continue;
      }
      if (c === '{' || c === '}') {
        cut = i;
        break;
      }
      i++;
    }
    if (cut < 0) {
      out.push(rest);
      break;
    }
    out.push(rest.slice(0, cut).replace(/[ \t]+$/, ''));
    rest = rest.slice(cut);
  }
  return out.filter((line) => line !== '');
}

/** alloc_strvec_r(): blank-separated words, a double-quoted string being one word without its quotes. */
export function splitWords(text: string): string[] | { readonly error: string } {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t')) i++;
    if (i >= text.length) break;
    if (text[i] === '"') {
      const close = text.indexOf('"', i + 1);
      if (close < 0) return { error: `Unmatched quote: '${text}'` };
      words.push(text.slice(i + 1, close));
      i = close + 1;
      continue;
    }
    let end = i;
    while (end < text.length && text[end] !== ' ' && text[end] !== '\t' && text[end] !== '"') end++;
    words.push(text.slice(i, end));
    i = end;
  }
  return words;
}

const ESCAPES: Readonly<Record<string, string>> = {
  a: '\x07',
  b: '\b',
  E: '\x1b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

/**
 * alloc_strvec_quoted_escaped_common(): words split on blanks, where '...' and "..." may quote any part of a
 * word and are removed. With `escapes`, backslash sequences are decoded (\n, \t, \xHH, \NNN octal, \cX, and
 * \ before any other character for that character); without, a backslash and the character after it are
 * kept as they are. This is how keepalived reads script command lines (notify_up, misc_path, ...).
 */
export function splitQuoted(text: string, escapes: boolean): string[] | { readonly error: string } {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /[ \t\n\r\f\v]/.test(text[i]!)) i++;
    if (i >= text.length) break;
    let word = '';
    let quote = '';
    for (; i < text.length; i++) {
      const c = text[i]!;
      if (c === '\\') {
        const next = text[i + 1];
        if (next === undefined) return { error: `Missing escape char at end: '${text}'` };
        i++;
        if (!escapes) {
          word += `\\${next}`;
        } else if (next === 'x' && /[0-9a-fA-F]/.test(text[i + 1] ?? '')) {
          const hex = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 1))![0];
          word += String.fromCharCode(Number.parseInt(hex, 16));
          i += hex.length;
        } else if (next === 'c' && i + 1 < text.length) {
          word += String.fromCharCode(text.charCodeAt(++i) & 0x1f);
        } else if (/[0-7]/.test(next)) {
          const octal = /^[0-7]{1,3}/.exec(text.slice(i))![0];
          word += String.fromCharCode(Number.parseInt(octal, 8) & 0xff);
          i += octal.length - 1;
        } else {
          word += ESCAPES[next] ?? next;
        }
        continue;
      }
      if (quote !== '') {
        if (c === quote) quote = '';
        else word += c;
        continue;
      }
      if (c === '"' || c === "'") {
        quote = c;
        continue;
      }
      if (/[ \t\n\r\f\v]/.test(c)) break;
      word += c;
    }
    if (quote !== '') return { error: `String '${text}': missing terminating ${quote}` };
    words.push(word);
  }
  return words;
}

class Reader {
  readonly lines: LogicalLine[] = [];
  readonly errors: Diagnostic[] = [];
  readonly warnings: Diagnostic[] = [];
  readonly files: string[] = [];

  /** The files being read, outermost first, by real path: a file among them including itself is a cycle. */
  private readonly open: string[] = [];
  private opened = 0;

  readFile(path: string, shown: string, from: Location | undefined, depth: number): void {
    let text: string;
    let real: string;
    try {
      if (!statSync(path).isFile()) throw new Error('not a regular file');
      real = realpathSync(path);
      text = readFileSync(path, 'utf8');
    } catch (err) {
      const reason = err instanceof Error && 'code' in err ? String(err.code) : (err as Error).message;
      const message = `Configuration file '${shown}' open problem (${reason})`;
      if (from === undefined) this.errors.push({ file: shown, line: 0, message });
      else this.errors.push({ ...from, message });
      return;
    }
    if (from !== undefined && this.open.includes(real)) {
      this.errors.push({ ...from, message: `include cycle: '${shown}' is already being read` });
      return;
    }
    if (++this.opened > MAX_FILES_READ) {
      if (this.opened === MAX_FILES_READ + 1) {
        this.errors.push({
          ...from!,
          message: `more than ${MAX_FILES_READ} configuration files read (includes repeated?)`,
        });
      }
      return;
    }
    this.files.push(shown);
    this.open.push(real);
    try {
      this.readLines(text, shown, depth);
    } finally {
      this.open.pop();
    }
  }

  private readLines(text: string, shown: string, depth: number): void {
    const raw = text.split('\n');
    for (let index = 0; index < raw.length; index++) {
      const at: Location = { file: shown, line: index + 1 };
      let line = decomment(raw[index]!.replace(/\r+$/, ''));
      if (line === '') continue;
      if (line.startsWith('@')) {
        const m = /^@(\^?)\S*[ \t]+(.*)$/.exec(line);
        // Without a config_id, `@ID` lines are another instance's and `@^ID` lines are everyone else's.
        if (m === null || m[1] !== '^') continue;
        line = m[2]!;
      }
      if (line.startsWith('$') || line.startsWith('~SEQ') || line.startsWith('~LST')) {
        this.errors.push({
          ...at,
          message: `keepalived parameter definitions and sequences ($NAME=..., ~SEQ, ~LST) are not supported by uvs`,
        });
        continue;
      }
      const pattern = includePattern(line);
      if (pattern !== undefined) {
        this.include(pattern, shown, at, depth);
        continue;
      }
      for (const piece of splitBraces(line)) this.lines.push({ ...at, text: piece });
    }
  }

  private include(pattern: string, including: string, at: Location, depth: number): void {
    if (depth >= MAX_INCLUDE_DEPTH) {
      this.errors.push({
        ...at,
        message: `include nested more than ${MAX_INCLUDE_DEPTH} deep`,
      });
      return;
    }
    const base = dirname(including);
    const matches = globFiles(pattern, base);
    if (matches.length === 0) {
      this.warnings.push({ ...at, message: `No config files matched '${pattern}'` });
      return;
    }
    for (const path of matches) {
      // check_glob_file(): a directory or an executable file that a pattern matches is skipped.
      const skip = skipReason(path);
      if (skip === undefined) this.readFile(path, path, at, depth + 1);
      else this.warnings.push({ ...at, message: `Configuration file '${path}' ${skip} - skipping` });
    }
  }
}

function skipReason(path: string): string | undefined {
  try {
    const st = statSync(path);
    if (st.isDirectory()) return 'is a directory';
    if (!st.isFile() || (st.mode & 0o111) !== 0) return 'is not a regular non-executable file';
    return undefined;
  } catch {
    // readFile() reports what it cannot open.
    return undefined;
  }
}

export interface ParsedText {
  readonly nodes: ConfigNode[];
  readonly errors: Diagnostic[];
  readonly warnings: Diagnostic[];
  /** Every file read, the main one first. */
  readonly files: string[];
}

/** Reads `path` and its includes into a tree of keyword lines; syntax errors are collected, not thrown. */
export function readConfigTree(path: string): ParsedText {
  const reader = new Reader();
  reader.readFile(path, path, undefined, 0);
  const errors = [...reader.errors];
  const root: ConfigNode[] = [];
  const stack: { nodes: ConfigNode[]; opener: ConfigNode | undefined }[] = [{ nodes: root, opener: undefined }];
  let lastNode: ConfigNode | undefined;
  for (const line of reader.lines) {
    const top = stack[stack.length - 1]!;
    if (line.text === '{') {
      // A block belongs to the keyword line right before its `{`.
      if (lastNode !== undefined) {
        lastNode.block = [];
        stack.push({ nodes: lastNode.block, opener: lastNode });
      } else {
        errors.push({ file: line.file, line: line.line, message: "Unexpected '{' - ignoring" });
      }
      lastNode = undefined;
      continue;
    }
    if (line.text === '}') {
      if (stack.length === 1) errors.push({ file: line.file, line: line.line, message: "Extra '}' found" });
      else stack.pop();
      lastNode = undefined;
      continue;
    }
    const words = splitWords(line.text);
    if (!Array.isArray(words)) {
      errors.push({ file: line.file, line: line.line, message: words.error });
      lastNode = undefined;
      continue;
    }
    if (words.length === 0) continue;
    const keyword = words[0]!;
    const node: ConfigNode = {
      file: line.file,
      line: line.line,
      keyword,
      args: words.slice(1),
      text: line.text,
      block: undefined,
    };
    top.nodes.push(node);
    lastNode = node;
  }
  for (let i = stack.length - 1; i > 0; i--) {
    const opener = stack[i]!.opener!;
    errors.push({
      file: opener.file,
      line: opener.line,
      message: `Missing '}': the block of '${opener.keyword}' is not closed`,
    });
  }
  return { nodes: root, errors, warnings: reader.warnings, files: reader.files };
}
