#!/usr/bin/env node
// `uvsadm`: ipvsadm's command line over the uvs daemon's control socket. The daemon runs the command and
// answers with what to print and the exit status; `--socket PATH` or UVS_SOCKET picks the socket.
import { argv, env, exit, stderr, stdin, stdout } from 'node:process';
import { runUvsadm } from '../control/client.js';

async function readAll(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Resolves once `text` is handed to the OS, so exit() cannot cut a long listing short on a pipe. */
function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  return new Promise((resolve) => (text === '' ? resolve() : stream.write(text, () => resolve())));
}

runUvsadm(argv.slice(2), { socketEnv: env.UVS_SOCKET, readStdin: readAll }).then(
  async (result) => {
    await write(stdout, result.stdout);
    await write(stderr, result.stderr);
    exit(result.exitCode);
  },
  (err: unknown) => {
    stderr.write(`uvsadm: ${err instanceof Error ? err.message : String(err)}\n`);
    exit(2);
  },
);
