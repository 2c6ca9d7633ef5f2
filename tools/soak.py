"""``make soak``: many sandbox issuances with random faults, then a summary.

One sandbox and one certbot config/work directory for the whole soak, as on a server
renewing night after night. Each run gets at most one injected misbehaviour of the API
stand-in (429 with and without Retry-After, a 429 asking to wait an hour, 5xx HTML
pages, dropped connections, an answer slower than the read timeout, GET lagging writes
by 4 s or by longer than cleanup waits, 401 on the cleanup call) or
is killed with SIGKILL after its TXT value is written. A final run without faults must
leave every zone byte-identical to the start. Prints: issued, failed with a clear
error, failed unclearly, zones changed, leftover challenge values, token sightings;
exits 1 if any of the last four is not 0.

``python -m tools.soak [--runs N] [--seed S]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from sandbox.accounts import TOKEN, account_zones
from sandbox.hostinger_api import Fault
from sandbox.stack import Sandbox

NAME_SETS = [["mail.example.com"], ["mail.example.com", "mail.news.example.com"],
             ["example.com", "*.example.com"], ["mail.example.co.uk"]]
OTHER_VALUE = "another-client-keeps-this"
HTML = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"
FAULTS = ["none", "none", "429-retry-after", "429", "429-wait-an-hour", "500-html",
          "500-html-applied", "503-persistent", "drop", "lag", "lag-long", "401-on-cleanup",
          "403-on-add", "kill", "slow"]
UNCLEAR_MARKERS = ("Traceback", "An unexpected error occurred")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 - reproducible fault choice, not crypto
    started = time.monotonic()
    outcomes: Counter[str] = Counter()
    sightings = 0
    zones = account_zones()
    zones["example.com"].append({"name": "_acme-challenge.mail", "type": "TXT", "ttl": 300,
                                 "records": [{"content": OTHER_VALUE}]})
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch, \
            Sandbox(Path(scratch), delays=(0.0, 0.5), zones=zones) as sandbox:
        before = sandbox.dumps()
        for run in range(args.runs):
            fault = rng.choice(FAULTS)
            names = rng.choice(NAME_SETS)
            outcome, seen = one_run(sandbox, run, fault, names, rng)
            outcomes[outcome.split(":")[0]] += 1
            sightings += seen
            print(f"run {run + 1:>2}: {fault:<16} {' '.join(names):<42} {outcome}", flush=True)
        outcome, seen = one_run(sandbox, args.runs, "none", NAME_SETS[1], rng)
        outcomes[outcome.split(":")[0]] += 1
        sightings += seen
        print(f"final : {'none':<16} {' '.join(NAME_SETS[1]):<42} {outcome}")
        after = sandbox.dumps()
        changed = sum(1 for zone in before if after.get(zone) != before[zone])
        leftovers = len(sandbox.leftover_values(before))
    must_be_zero = {"failed unclearly": outcomes["failed unclearly"], "zones changed": changed,
                    "leftover challenge values": leftovers, "token sightings": sightings}
    print(f"\nseed {args.seed}, {args.runs} runs + 1 final, "
          f"{time.monotonic() - started:.0f} s")
    print(f"issued:                      {outcomes['issued']}")
    print(f"failed with a clear error:   {outcomes['failed clearly']}")
    print(f"killed (by the soak):        {outcomes['killed']}")
    for label, value in must_be_zero.items():
        print(f"{label + ':':<28} {value}  (must be 0)")
    return 1 if any(must_be_zero.values()) else 0


def one_run(sandbox: Sandbox, run: int, fault: str, names: list[str],
            rng: random.Random) -> tuple[str, int]:
    """Run certbot once with ``fault``; returns (outcome, token sightings)."""
    sandbox.api.faults.clear()
    sandbox.store.read_lag = 0.0
    if fault == "kill":
        return kill_after_add(sandbox, run, names), 0
    inject(sandbox, fault, rng)
    result = sandbox.issue(names, cert_name=f"soak{run}", propagation_seconds=60)
    sandbox.api.faults.clear()
    sandbox.store.read_lag = 0.0
    seen = sandbox.text_seen_by_user(result).count(TOKEN)
    if result.returncode == 0:
        return "issued", seen
    unclear = any(marker in result.stderr for marker in UNCLEAR_MARKERS)
    lines = [line for line in result.stderr.splitlines() if line.strip()
             and "log" not in line.lower() and not line.startswith("Ask for help")]
    detail = lines[0].strip()[:150] if lines else "no message"
    return (f"failed {'unclearly' if unclear else 'clearly'}: {detail}"), seen


def inject(sandbox: Sandbox, fault: str, rng: random.Random) -> None:
    method = rng.choice(["GET", "PUT", "*"])
    json_error = json.dumps({"message": "Too many requests"})
    faults = {
        "429-retry-after": Fault(method=method, status=429, body=json_error,
                                 headers={"Retry-After": "1"}),
        "429": Fault(method=method, status=429, body=json_error),
        "429-wait-an-hour": Fault(method=method, status=429, body=json_error, times=100,
                                  headers={"Retry-After": "3600"}),
        "500-html": Fault(method=method, status=500, body=HTML, content_type="text/html",
                          times=rng.randint(1, 2)),
        # a status fault refuses the request; apply_first: the write lands, then the error
        "500-html-applied": Fault(method=method, status=500, body=HTML,
                                  content_type="text/html", apply_first=True),
        "403-on-add": Fault(method="PUT", status=403,
                            body=json.dumps({"message": "Forbidden"})),
        "503-persistent": Fault(method=method, status=503, body=HTML, content_type="text/html",
                                times=10),
        "drop": Fault(method=method, drop=True),
        "slow": Fault(method="GET", delay=35.0),
        "401-on-cleanup": Fault(method="DELETE", status=401,
                                body=json.dumps({"message": "Unauthenticated."})),
    }
    if fault == "lag":
        sandbox.store.read_lag = 4.0
    elif fault == "lag-long":
        sandbox.store.read_lag = 30.0  # longer than cleanup re-reads: the next run removes
    elif fault in faults:
        sandbox.api.inject(faults[fault])


def kill_after_add(sandbox: Sandbox, run: int, names: list[str]) -> str:
    """Start certbot, SIGKILL it once its first TXT value is in the zone."""
    args = sandbox.certonly_args(names, cert_name=f"soak{run}", propagation_seconds=60)
    return "killed" if sandbox.kill_after_first_write(args) else "failed unclearly: never wrote"


if __name__ == "__main__":
    sys.exit(main())
