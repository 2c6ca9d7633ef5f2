"""A stand-in ``docker`` CLI for the BillionMail tests (standard library only).

It knows the containers listed in a JSON state file, records every call, and runs
``docker exec`` commands inside the private mount namespace of the real service that
plays the container (``nsenter -t PID -m``), so ``postmap``, ``postfix reload``,
``doveconf`` and ``doveadm reload`` act on real Postfix and Dovecot. ``docker restart``
stops the recorded process and starts it again. Faults make a given command fail
(``fail``) or do nothing (``noop``) a given number of times.

``docker exec <pgsql container> psql ...`` is answered by ``sandbox/fake_psql.py`` from
the state's ``database`` table. Like docker, ``-e NAME`` takes the value from this
process's environment; a password given as ``-e PGPASSWORD=...`` on the command line is
refused (and the call log, which records argv, would show it).

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

from fake_psql import psql  # run as a script: its own directory is on sys.path

PGSQL_SERVICE = "pgsql-billionmail"
NOT_FOUND = ('OCI runtime exec failed: exec failed: unable to start container process: '
             'exec: "{}": executable file not found in $PATH: unknown')


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
        return _exec(state, state_path, args[1:])
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


def _exec(state: dict[str, Any], state_path: Path, args: list[str]) -> int:
    env: dict[str, str] = {}
    while args and args[0].startswith("-"):
        option, args = args[0], args[1:]
        if option in ("-e", "--env"):
            name, has_value, value = args[0].partition("=")
            if name == "PGPASSWORD" and has_value:
                print("fake docker: PGPASSWORD was given on the command line, where every "
                      "user can read it", file=sys.stderr)
                return 125
            if has_value or name in os.environ:
                env[name] = value if has_value else os.environ[name]
            args = args[1:]
    container = _find(state, args[0])
    command = args[1:]
    if container["labels"].get("com.docker.compose.service") == PGSQL_SERVICE:
        return _pgsql(state.get("database", {}), env, command)
    fault = _take_fault(state, state_path, container, command)
    if fault == "fail":
        print(f"fault injected: {' '.join(command)} failed", file=sys.stderr)
        return 1
    if fault == "noop" or "pid_file" not in container:
        return 0  # no service plays this container: the call is only recorded
    pid = Path(container["pid_file"]).read_text().strip()
    done = subprocess.run(["nsenter", "-t", pid, "-m", "--", *command], check=False)
    return done.returncode


def _pgsql(database: dict[str, Any], env: dict[str, str], command: list[str]) -> int:
    if not command or command[0] != "psql" or database.get("state") == "no-psql":
        print(NOT_FOUND.format(command[0] if command else ""), file=sys.stderr)
        return 127
    code, out, err = psql(database, env, command[1:])
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


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
