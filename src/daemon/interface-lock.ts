// One uvs daemon per interface. Two daemons capturing the same interface (each with its own control socket and
// state file, so nothing else stops the second) would both forward every packet. So the daemon holds, for each
// of its interfaces, a Unix socket in the abstract namespace named after the interface, and a second daemon
// that finds the name taken refuses to start, naming the holder's PID, which the holder tells whoever connects.
//
// Why an abstract socket rather than a lock file:
// - The kernel makes the name unique (bind() fails with EADDRINUSE) and frees it when the holder's last
//   descriptor closes, however the process ends, kill -9 included. A PID lock file needs stale detection
//   (is that PID alive, is it still a uvs daemon, was it reused?) and a stale file taken over by two starting
//   daemons at once is a race that only flock() closes, which Node lacks (it would need native code).
// - Abstract names belong to the network namespace, exactly the scope of an interface name and ifindex: the
//   same eth0 in another namespace is another interface, and is not locked.
// - Nothing is left on disk to clean up.
// The cost: an abstract name has no file permissions, so any local process in the namespace could take it and
// keep the daemon from starting. Then the refusal says the holder did not answer as a uvs daemon (so does a
// stopped one), and `ss -xlp` finds it.
//
// An interface is held by its name, not its ifindex: the daemon serves an interface by name (its link
// monitoring follows an interface deleted and made again under the same name, a new ifindex), and the name
// needs no sysfs, which outside `ip netns exec` can show another namespace's interfaces and so a wrong ifindex.
import { createConnection, createServer, type Server } from 'node:net';

export class InterfaceLockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InterfaceLockError';
  }
}

/** How long to wait for the holder to say who it is. */
const HOLDER_ANSWER_MS = 1_000;

/** The abstract socket name (leading NUL) that holds interface `name` in this network namespace. */
export function interfaceLockName(name: string): string {
  return `\0uvs/interface/${name}`;
}

function listen(server: Server, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(name, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** What the holder of `name` says about itself: its PID when it is a uvs daemon, else undefined. */
function askHolder(name: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    const socket = createConnection(name);
    let text = '';
    const done = (pid: number | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(pid);
    };
    const timer = setTimeout(() => done(undefined), HOLDER_ANSWER_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > 200) done(undefined);
    });
    socket.on('end', () => {
      let answer: unknown;
      try {
        answer = JSON.parse(text);
      } catch {
        answer = undefined;
      }
      const { uvs, pid } = (answer ?? {}) as { uvs?: unknown; pid?: unknown };
      done(uvs === 'daemon' && Number.isInteger(pid) ? (pid as number) : undefined);
    });
    socket.on('error', () => done(undefined));
  });
}

/** Holds interface `name`, answering whoever asks with this daemon's PID. */
async function hold(name: string): Promise<Server> {
  const lockName = interfaceLockName(name);
  const server = createServer((socket) => {
    socket.on('error', () => socket.destroy());
    socket.end(JSON.stringify({ uvs: 'daemon', pid: process.pid }));
  });
  try {
    await listen(server, lockName);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    const pid = await askHolder(lockName);
    throw new InterfaceLockError(
      pid !== undefined
        ? `interface ${name} is in use by another uvs daemon (PID ${pid}); stop it, or give this daemon other interfaces`
        : `interface ${name} is held by a process that did not answer as a uvs daemon (find it with: ss -xlp | grep uvs/interface)`,
    );
  }
  // The lock never keeps the process alive by itself.
  server.unref();
  return server;
}

/** The interfaces this daemon holds; release() (at stop, or when start fails) lets another daemon take them. */
export class InterfaceLock {
  private constructor(private readonly servers: Server[]) {}

  /** Takes every interface, or none: throws InterfaceLockError naming the daemon that holds one already. */
  static async acquire(interfaces: readonly string[]): Promise<InterfaceLock> {
    const lock = new InterfaceLock([]);
    try {
      for (const name of interfaces) lock.servers.push(await hold(name));
    } catch (err) {
      lock.release();
      throw err;
    }
    return lock;
  }

  release(): void {
    for (const server of this.servers.splice(0)) server.close();
  }
}
