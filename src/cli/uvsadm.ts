#!/usr/bin/env node
// `uvsadm`: ipvsadm's command line over the uvs daemon's control socket.
import { argv, exit, stdout } from 'node:process';

const USAGE = `uvsadm - administer the uvs virtual server (ipvsadm-compatible)

Usage: uvsadm -A|E -t|u service-address [-s scheduler] [-p [timeout]] [-M netmask]
       uvsadm -D -t|u service-address
       uvsadm -C
       uvsadm -R
       uvsadm -S [-n]
       uvsadm -a|e -t|u service-address -r server-address [-g|i|m] [-w weight] [-x upper] [-y lower]
       uvsadm -d -t|u service-address -r server-address
       uvsadm -L|l [options]
       uvsadm -Z [-t|u service-address]
       uvsadm --set tcp tcpfin udp
       uvsadm -h
`;

stdout.write(USAGE);
exit(argv.length > 2 && !argv.includes('-h') && !argv.includes('--help') ? 2 : 0);
