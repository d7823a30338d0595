# The systemd side of sd_notify(3) for tests: binds an AF_UNIX datagram socket at argv[1] (a path, or @name
# in the abstract namespace) and prints each datagram it receives as one JSON line {"ms": ..., "text": ...},
# ms from a monotonic clock. Stops after argv[2] seconds whatever happens. Node has no Unix datagram sockets,
# which is why this side is Python.
import json
import socket
import sys
import time

path = sys.argv[1]
deadline = time.monotonic() + float(sys.argv[2])
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind("\0" + path[1:] if path.startswith("@") else path)
print(json.dumps({"bound": path}), flush=True)
while True:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    sock.settimeout(left)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        break
    print(json.dumps({"ms": time.monotonic() * 1000, "text": data.decode("utf-8", "replace")}), flush=True)
