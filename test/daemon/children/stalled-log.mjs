// Child of logger.test.ts: the daemon's log (argv[2]: the compiled src/daemon/logger.js) on a stderr that
// the parent never reads, written flat out for about a second while a timer keeps time. Prints one JSON line
// on stdout with what happened, then flushes (bounded) and exits.
import { pathToFileURL } from 'node:url';

const { createDaemonLog } = await import(pathToFileURL(process.argv[2]).href);
const daemonLog = createDaemonLog({ maxPendingBytes: 1 << 20 });
const rssBefore = process.memoryUsage().rss;
let ticks = 0;
const timer = setInterval(() => ticks++, 10);
const started = Date.now();
let lines = 0;
const pad = 'x'.repeat(200);
const burst = () => {
  for (let i = 0; i < 1000; i++) daemonLog.log.info({ i: lines++, pad }, 'a log line nobody reads');
  if (Date.now() - started < 1000) {
    setImmediate(burst);
    return;
  }
  clearInterval(timer);
  const rssGrowthBytes = process.memoryUsage().rss - rssBefore;
  process.stdout.write(`${JSON.stringify({ lines, dropped: daemonLog.dropped, ticks, rssGrowthBytes })}\n`);
  const flushStarted = Date.now();
  daemonLog.flush(300).then(() => {
    process.stdout.write(`${JSON.stringify({ flushMs: Date.now() - flushStarted })}\n`);
    process.exit(0);
  });
};
burst();
