"""Run one command inside a Debian root that sees the host's /tmp (standard library only).

Usage, as root: ``unshare --mount --propagation private python3 chroot_exec.py ROOT CMD...``.

It must run in a private mount namespace, so that every mount it makes vanishes with it
(it refuses to run otherwise). It binds the host's /tmp onto ROOT/tmp (the sandbox's
files live there, so their paths are the same inside), mounts /proc and a private
/dev/pts, changes root and runs CMD with a clean environment: a Debian ``PATH`` and only
the variables named in :data:`KEEP`. The network stays the host's, so 127.0.0.1 is the
sandbox's loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys

KEEP = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "RENEWED_LINEAGE", "RENEWED_DOMAINS")
BASE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
            "DEBIAN_FRONTEND": "noninteractive"}
MOUNTS = (
    ("--bind", "/tmp", "tmp"),
    ("-t", "proc", "proc", "proc"),
    ("-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts", "dev/pts"),
)


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: chroot_exec.py ROOT COMMAND [ARG...]", file=sys.stderr)
        return 2
    root, command = argv[1], argv[2:]
    if os.readlink("/proc/self/ns/mnt") == os.readlink(f"/proc/{os.getppid()}/ns/mnt"):
        print("chroot_exec.py: not in a private mount namespace (run it under unshare -m)",
              file=sys.stderr)
        return 2
    for *options, target in MOUNTS:
        subprocess.run(["mount", *options, os.path.join(root, target)], check=True)
    env = {**BASE_ENV, **{name: os.environ[name] for name in KEEP if name in os.environ}}
    os.chroot(root)
    os.chdir("/")
    os.execvpe(command[0], command, env)  # noqa: S606 (the command is the caller's)
    return 127  # not reached: execvpe replaces the process or raises


if __name__ == "__main__":
    sys.exit(main(sys.argv))
