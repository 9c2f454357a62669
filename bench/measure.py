#!/usr/bin/env python3
"""Runs a command and writes one JSON line about what its process tree cost.

Usage: measure.py [--self] [--append] OUT -- CMD [ARGS...]

  wall    seconds from fork to exit
  cpu     user+sys seconds of CMD and every descendant it waited for (wait4's
          rusage, microsecond resolution); with --self, everything this process
          cost instead: its own CPU (from its fork on, before an `exec` into it
          included: the `./gradlew` shell script, the `git` wrapper) and that of every
          child it waited for, CMD's tree and a shell's `$(...)` before the exec alike —
          so that a wrapped `./gradlew` or `git pull` can be subtracted whole. The
          wrapper then ends with os._exit, skipping the interpreter's teardown, which
          no measurement would see
  hwm_kb  CMD's own peak resident set (VmHWM), sampled every 5 ms
  code    CMD's exit status (also this wrapper's)
  end     when CMD exited (seconds since the epoch)

stdin/stdout/stderr are inherited. The bench driver (benches/procedures.rs) uses it
for the tools and for the gradlew shim.
"""
import json
import os
import resource
import sys
import time


def main():
    args = sys.argv[1:]
    add_self = append = False
    while args and args[0].startswith("--") and args[0] != "--":
        flag = args.pop(0)
        add_self |= flag == "--self"
        append |= flag == "--append"
    out = args.pop(0)
    if args and args[0] == "--":
        args.pop(0)
    t0 = time.monotonic()
    # posix_spawn returns after the exec: VmHWM is never the wrapper's own.
    pid = os.posix_spawnp(args[0], args, os.environ)
    hwm = 0
    while True:
        p, status, ru = os.wait4(pid, os.WNOHANG)
        if p == pid:
            break
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        hwm = max(hwm, int(line.split()[1]))
                        break
        except OSError:
            pass
        time.sleep(0.005)
    wall = time.monotonic() - t0
    end = time.time()
    cpu = ru.ru_utime + ru.ru_stime
    code = os.waitstatus_to_exitcode(status)
    f = open(out, "a" if append else "w")
    if add_self:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    f.write(json.dumps({"wall": wall, "cpu": cpu, "hwm_kb": hwm, "code": code, "end": end}) + "\n")
    f.close()
    sys.stdout.flush()
    os._exit(code if code >= 0 else 128 - code)


main()
