// Listening on a Unix socket only root can open, the way the control socket is created (src/control/server.ts):
// the directory made if missing, a stale socket of a dead daemon removed (a live one or a non-socket refused),
// the socket created under umask 0177 so it is never reachable with wider permissions, even for an instant,
// then chmod 0600 whatever the platform does with the umask for sockets. Used by the control and trace sockets.
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { createConnection, type Server } from 'node:net';
import { dirname } from 'node:path';

export class PrivateSocketError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrivateSocketError';
  }
}

/** True when something accepts connections on the socket at `path` (within `timeoutMs`). */
export function isSocketLive(path: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const done = (live: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(live);
    };
    // A daemon too busy to accept within the timeout is still a daemon: treat it as live.
    const timer = setTimeout(() => done(true), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function clearStaleSocket(path: string): Promise<void> {
  let stat: Awaited<ReturnType<typeof lstat>>;
  try {
    stat = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!stat.isSocket()) throw new PrivateSocketError(`${path} exists and is not a socket; not replacing it`);
  if (await isSocketLive(path)) throw new PrivateSocketError(`another uvs daemon is already listening on ${path}`);
  await unlink(path);
}

/** Makes `server` listen on `path` with mode 0600. */
export async function listenPrivate(server: Server, path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await clearStaleSocket(path);
  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  await chmod(path, 0o600);
}
