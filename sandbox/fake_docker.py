"""A stand-in ``docker`` CLI for the BillionMail tests (standard library only).

It knows the containers listed in a JSON state file, records every call, and runs
``docker exec`` commands inside the private mount namespace of the real service that
plays the container (``nsenter -t PID -m``), so ``postmap``, ``postfix reload``,
``doveconf`` and ``doveadm reload`` act on real Postfix and Dovecot. ``docker restart``
stops the recorded process and starts it again. Faults make a given command fail
(``fail``) or do nothing (``noop``) a given number of times.

Usage: ``fake_docker.py --state FILE <docker arguments>``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def main(argv: list[str]) -> int:
    state_path = Path(argv[1])
    args = argv[2:]
    state = json.loads(state_path.read_text())
    with open(state["log"], "a", encoding="utf-8") as log:
        log.write(json.dumps(args) + "\n")
    command = args[0] if args else ""
    if command == "ps":
        return _ps(state, args[1:])
    if command == "exec":
        return _exec(state, state_path, args[1], args[2:])
    if command == "restart":
        return _restart(state, args[1])
    print(f"fake docker: unsupported command {args}", file=sys.stderr)
    return 2


def _ps(state: dict[str, Any], args: list[str]) -> int:
    filters, fmt = [], "{{.ID}}"
    while args:
        option, value, args = args[0], args[1], args[2:]
        if option == "--filter":
            filters.append(value.removeprefix("label="))
        elif option == "--format":
            fmt = value
    for container in state["containers"]:
        labels = container["labels"]
        if all(labels.get(key) == value
               for key, _, value in (wanted.partition("=") for wanted in filters)):
            print(_render(fmt, container))
    return 0


def _render(fmt: str, container: dict[str, Any]) -> str:
    text = fmt.replace("{{.ID}}", container["id"]).replace("{{.Names}}", container["name"])
    return re.sub(r'\{\{\.Label "([^"]+)"\}\}',
                  lambda match: str(container["labels"].get(match.group(1), "")), text)


def _find(state: dict[str, Any], ref: str) -> dict[str, Any]:
    for container in state["containers"]:
        if ref in (container["id"], container["name"]):
            return container
    raise SystemExit(f"Error response from daemon: No such container: {ref}")


def _exec(state: dict[str, Any], state_path: Path, ref: str, command: list[str]) -> int:
    container = _find(state, ref)
    fault = _take_fault(state, state_path, container, command)
    if fault == "fail":
        print(f"fault injected: {' '.join(command)} failed", file=sys.stderr)
        return 1
    if fault == "noop" or "pid_file" not in container:
        return 0  # no service plays this container: the call is only recorded
    pid = Path(container["pid_file"]).read_text().strip()
    done = subprocess.run(["nsenter", "-t", pid, "-m", "--", *command], check=False)
    return done.returncode


def _take_fault(state: dict[str, Any], state_path: Path, container: dict[str, Any],
                command: list[str]) -> str | None:
    key = f"{container['labels']['com.docker.compose.service']} {' '.join(command[:2])}"
    fault = state.get("faults", {}).get(key)
    if not fault or fault["times"] <= 0:
        return None
    fault["times"] -= 1
    state_path.write_text(json.dumps(state))
    return str(fault["kind"])


def _restart(state: dict[str, Any], ref: str) -> int:
    container = _find(state, ref)
    if "pid_file" not in container:
        print(container["name"])
        return 0  # no process plays this container: the call is only recorded
    pid_file = Path(container["pid_file"])
    with contextlib.suppress(OSError, ValueError):
        os.killpg(int(pid_file.read_text()), signal.SIGTERM)
    time.sleep(0.2)
    process = subprocess.Popen(container["restart"], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid_file.write_text(str(process.pid))
    print(container["name"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
