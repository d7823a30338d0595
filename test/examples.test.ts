// The README's example: examples/make-pcap.mjs writes a capture with uvs's own wire layer, `uvs replay`
// runs it through the datapath, and tshark (where installed) reads the output with every checksum checked.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const cli = join(root, 'dist', 'cli', 'uvs.js');
const hasTshark = spawnSync('sh', ['-c', 'command -v tshark'], { encoding: 'utf8' }).status === 0;

describe('examples/', () => {
  const dir = mkdtempSync(join(tmpdir(), 'uvs-example-'));
  const input = join(dir, 'nat.pcap');
  const output = join(dir, 'out.pcap');

  it('replays the NAT example as the README shows', () => {
    execFileSync(process.execPath, [join(root, 'examples', 'make-pcap.mjs'), input]);
    const summary = execFileSync(
      process.execPath,
      [cli, 'replay', '--config', join(root, 'examples', 'nat.yaml'), '--in', input, '--out', output],
      { encoding: 'utf8' },
    );
    expect(summary).toMatch(
      /^8 frames in, 7 frames out: 4 forwarded to real servers, 1 NAT replies, 1 ARP replies, 1 echo replies/,
    );
    expect(summary).toMatch(/noService {2}1/);
  });

  // Skipped without tshark because it is the independent checker here; CI installs it.
  it.skipIf(!hasTshark)('writes frames whose IP and TCP checksums tshark validates', () => {
    const fields = execFileSync(
      'tshark',
      [
        '-r',
        output,
        '-o',
        'ip.check_checksum:TRUE',
        '-o',
        'tcp.check_checksum:TRUE',
        '-T',
        'fields',
        '-e',
        'ip.src',
        '-e',
        'ip.dst',
        '-e',
        'ip.checksum.status',
        '-e',
        'tcp.checksum.status',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    )
      .trimEnd()
      .split('\n')
      .map((l) => l.split('\t'));
    // Frame 1 is the ARP reply (no IP). Wireshark's checksum status: 0 bad, 1 good, 2 unverified.
    expect(fields.slice(1)).toEqual([
      ['192.168.1.231', '192.168.1.100', '1', ''],
      ['192.168.1.100', '192.168.2.12', '1', '1'],
      ['192.168.1.231', '192.168.1.100', '1', '1'],
      ['192.168.1.100', '192.168.2.12', '1', '1'],
      ['192.168.1.100', '192.168.2.12', '1', '1'],
      ['192.168.1.100', '192.168.2.12', '1', '1'],
    ]);
  });
});
