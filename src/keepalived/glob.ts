// The file patterns of keepalived's `include`: glibc glob(3) with GLOB_BRACE, as keepalived calls it. `*`, `?`
// and `[...]` match within one path component and never match a leading dot; `{a,b}` expands first; the
// matches of each pattern come back sorted (glob's default, strcmp order in the C locale). Node 20 has no
// fs.glob, and the few lines here avoid a dependency for it.
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';

/** `{a,b}` alternatives, nested ones too, expanded left to right as glibc's GLOB_BRACE does. */
export function expandBraces(pattern: string): string[] {
  const open = findUnescaped(pattern, '{', 0);
  if (open < 0) return [pattern];
  let depth = 0;
  const commas: number[] = [];
  let close = -1;
  for (let i = open; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      close = i;
      break;
    } else if (c === ',' && depth === 1) commas.push(i);
  }
  // An unclosed brace is literal text, as in glibc.
  if (close < 0) return [pattern];
  const head = pattern.slice(0, open);
  const tail = pattern.slice(close + 1);
  const cuts = [open, ...commas, close];
  const out: string[] = [];
  for (let k = 0; k + 1 < cuts.length; k++) {
    for (const expanded of expandBraces(head + pattern.slice(cuts[k]! + 1, cuts[k + 1]) + tail)) out.push(expanded);
  }
  return out;
}

function findUnescaped(text: string, char: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === char) return i;
  }
  return -1;
}

function hasWildcard(component: string): boolean {
  return /(^|[^\\])[*?[]/.test(component);
}

/** One path component's pattern as a regular expression (fnmatch with FNM_PERIOD for the leading dot). */
function componentRegExp(component: string): RegExp {
  let source = '';
  for (let i = 0; i < component.length; i++) {
    const c = component[i]!;
    if (c === '\\' && i + 1 < component.length) {
      source += escapeRegExp(component[++i]!);
    } else if (c === '*') {
      source += '[^/]*';
    } else if (c === '?') {
      source += '[^/]';
    } else if (c === '[') {
      const end = component.indexOf(']', i + 2);
      if (end < 0) {
        source += '\\[';
        continue;
      }
      let set = component.slice(i + 1, end);
      const negate = set.startsWith('!') || set.startsWith('^');
      if (negate) set = set.slice(1);
      source += `[${negate ? '^' : ''}${set.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else {
      source += escapeRegExp(c);
    }
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

function unescapeComponent(component: string): string {
  return component.replace(/\\(.)/g, '$1');
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** The paths one brace-free pattern matches, sorted; a pattern without wildcards matches its path if it exists. */
function globOne(pattern: string, base: string): string[] {
  const absolute = isAbsolute(pattern);
  const components = pattern.split('/').filter((c) => c !== '');
  let found: string[] = [absolute ? '/' : ''];
  for (const [index, component] of components.entries()) {
    const last = index === components.length - 1;
    const next: string[] = [];
    for (const prefix of found) {
      const dir = prefix === '' ? base : isAbsolute(prefix) ? prefix : join(base, prefix);
      if (!hasWildcard(component)) {
        const path = prefix === '' ? unescapeComponent(component) : join(prefix, unescapeComponent(component));
        const full = isAbsolute(path) ? path : join(base, path);
        if (last ? exists(full) : isDirectory(full)) next.push(path);
        continue;
      }
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      const re = componentRegExp(component);
      const allowDot = component.startsWith('.');
      for (const name of names.sort(byteOrder)) {
        if (name.startsWith('.') && !allowDot) continue;
        if (!re.test(name)) continue;
        const path = prefix === '' ? name : join(prefix, name);
        if (!last && !isDirectory(isAbsolute(path) ? path : join(base, path))) continue;
        next.push(path);
      }
    }
    found = next;
  }
  return found.filter((p) => p !== '' && p !== '/').sort(byteOrder);
}

/**
 * The files `pattern` names, relative ones resolved against `base` (the including file's directory, where
 * keepalived has changed directory to by then). Each brace alternative's matches are sorted on their own and
 * follow each other in the order of the alternatives, as with GLOB_BRACE.
 */
export function globFiles(pattern: string, base: string): string[] {
  const out: string[] = [];
  for (const alternative of expandBraces(pattern)) {
    for (const path of globOne(alternative, base)) out.push(isAbsolute(path) ? path : join(base, path));
  }
  return out;
}
