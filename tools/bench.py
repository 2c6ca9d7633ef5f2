"""``make bench``: how long issuance waits for DNS, and how many API calls it makes.

Real issuances in the sandbox (certbot, Pebble, the API stand-in, two loopback
nameservers with propagation delays). Prints figures; asserts nothing. Targets:
overhead over the slowest nameserver's delay <= 3 s; API calls per zone constant in
the number of names, discovery included (one read and one write to add, one read and
one write or delete to clean up): 100 names in 10 zones (Let's Encrypt's maximum per
certificate) in at most 45 calls.

``python -m tools.bench [--quick] [--delays NS1/NS2 ...]`` (``--quick`` skips the 30/60 s
rows; ``--delays`` replaces the rows, e.g. ``--delays 5.25/15.25`` for delays that are not
a multiple of the polling interval).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox.accounts import account_zones
from sandbox.stack import Sandbox

DELAYS = [(0.0, 0.0), (5.0, 15.0), (30.0, 60.0)]
FIXED_SLEEP = 60
NAME_COUNTS = [1, 5, 20]
MANY_ZONES = 10
NAMES_PER_ZONE = 10
MANY_DELAYS = (5.0, 15.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 30/60 s delays")
    parser.add_argument("--delays", nargs="+", type=delay_pair, metavar="NS1/NS2",
                        help="nameserver delays to measure instead of 0/0 5/15 30/60")
    args = parser.parse_args()
    delays = args.delays or (DELAYS[:2] if args.quick else DELAYS)
    print(machine())
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        root = Path(scratch)
        print("\nSeconds from start to certificate (1 name), nameserver delays ns1/ns2:")
        print(f"  {'delays':>9}  {'polling':>8}  {'overhead':>9}  {'plugin wait':>11}  "
              f"{'past delay':>10}  {'fixed ' + str(FIXED_SLEEP) + ' s':>11}  {'overhead':>9}")
        for ns1, ns2 in delays:
            polled, waited = timed_issue(root / f"poll-{ns1:g}-{ns2:g}", (ns1, ns2), check=True)
            fixed, _ = timed_issue(root / f"fixed-{ns1:g}-{ns2:g}", (ns1, ns2), check=False)
            slowest = max(ns1, ns2)
            wait_text = "-" if waited is None else f"{waited:.1f}"
            past_text = "-" if waited is None else f"{waited - slowest:+.1f}"
            print(f"  {f'{ns1:g}/{ns2:g}':>9}  {polled:8.1f}  {polled - slowest:+9.1f}  "
                  f"{wait_text:>11}  {past_text:>10}  {fixed:11.1f}  {fixed - slowest:+9.1f}")
        print("  target: polling overhead over the slowest delay <= 3 s. 'plugin wait' is the")
        print("  propagation wait the plugin reports; 'past delay' is its part of the overhead,")
        print("  the rest is certbot's own fixed cost (start-up, ACME round trips, two 1 s polls)")
        print("\nAPI calls for N names in one zone (example.com), whole run:")
        print(f"  {'names':>5}  {'discovery':>9}  {'add':>4}  {'cleanup':>7}  {'total':>5}")
        for count in NAME_COUNTS:
            discovery, add, cleanup = api_calls(root / f"calls-{count}", count)
            print(f"  {count:>5}  {discovery:>9}  {add:>4}  {cleanup:>7}  "
                  f"{discovery + add + cleanup:>5}")
        print("  target: add <= 2 and cleanup <= 3 per zone, whatever the number of names")
        names = MANY_ZONES * NAMES_PER_ZONE
        print(f"\n{names} names in {MANY_ZONES} zones, nameserver delays "
              f"{MANY_DELAYS[0]:g}/{MANY_DELAYS[1]:g} s:")
        seconds, waited, (discovery, add, cleanup) = many_zones(root / "many")
        print(f"  API calls: discovery {discovery}, add {add}, cleanup {cleanup}, total "
              f"{discovery + add + cleanup} (target <= 45)")
        wait_text = "-" if waited is None else f"{waited:.1f} s"
        print(f"  seconds to certificate: {seconds:.1f} (slowest nameserver "
              f"{max(MANY_DELAYS):g} s, overhead {seconds - max(MANY_DELAYS):+.1f} s; "
              f"plugin wait {wait_text})")
    print(f"\nPeak RSS of a certbot process (largest child): {peak_child_rss_mib():.0f} MiB")
    base, own = import_ms()
    print(f"Import time (fresh interpreter, median of 5): certbot's dns_common {base:.0f} ms, "
          f"then this plugin (with requests, dnspython) {own:.0f} ms")
    return 0


def delay_pair(text: str) -> tuple[float, float]:
    """``"5/15"`` -> (5.0, 15.0)."""
    first, _, second = text.partition("/")
    try:
        return float(first), float(second)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NS1/NS2 seconds, not {text!r}") from None


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    certbot = subprocess.run([str(Path(sys.executable).parent / "certbot"), "--version"],
                             capture_output=True, text=True, check=False, timeout=60)
    return (f"Machine: {os.cpu_count()} CPUs ({model}), {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, "
            f"{(certbot.stdout + certbot.stderr).strip()}")


def timed_issue(root: Path, delays: tuple[float, float], *,
                check: bool) -> tuple[float, float | None]:
    """Seconds certbot took for one name (propagation check on, or a fixed sleep), and the
    wait the plugin reported."""
    with Sandbox(root, delays=delays) as sandbox:
        # A renewal reuses its ACME account: register before the clock starts.
        sandbox.certbot(["register"])
        extra = [] if check else ["--dns-hostinger-propagation-check", "off"]
        limit = 600 if check else FIXED_SLEEP
        started = time.monotonic()
        result = sandbox.issue(["mail.example.com"], cert_name="bench",
                               propagation_seconds=limit, extra=extra)
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            print(f"  (run failed: {result.stderr.strip().splitlines()[-1:]})")
        reported = re.search(r"served by every nameserver after ([0-9.]+) s",
                             result.stdout + result.stderr)
        return elapsed, float(reported.group(1)) if reported else None


def api_calls(root: Path, count: int) -> tuple[int, int, int]:
    """(discovery, add, cleanup) API calls for ``count`` names in one zone."""
    with Sandbox(root) as sandbox:
        names = [f"mail{i}.example.com" for i in range(count)]
        result = sandbox.issue(names, cert_name="calls")
        if result.returncode != 0:
            print(f"  (run failed: {result.stderr.strip().splitlines()[-1:]})")
        return split_calls(sandbox.api.calls_summary())


def many_zones(root: Path) -> tuple[float, float | None, tuple[int, int, int]]:
    """Seconds to certificate, the plugin's reported wait and (discovery, add, cleanup)
    calls for 100 names in 10 zones."""
    zones = {**account_zones(), **{
        f"shop{k}.example.net": [{"name": "@", "type": "A", "ttl": 300,
                                  "records": [{"content": "192.0.2.7"}]}]
        for k in range(MANY_ZONES)}}
    with Sandbox(root, delays=MANY_DELAYS, zones=zones) as sandbox:
        sandbox.certbot(["register"])
        names = [f"host{i}.shop{k}.example.net" for k in range(MANY_ZONES)
                 for i in range(NAMES_PER_ZONE)]
        started = time.monotonic()
        result = sandbox.issue(names, cert_name="many", propagation_seconds=600)
        elapsed = time.monotonic() - started
        if result.returncode != 0:
            print(f"  (run failed: {result.stderr.strip().splitlines()[-3:]})")
        reported = re.search(r"served by every nameserver after ([0-9.]+) s",
                             result.stdout + result.stderr)
        waited = float(reported.group(1)) if reported else None
        return elapsed, waited, split_calls(sandbox.api.calls_summary())


def split_calls(calls: list[str]) -> tuple[int, int, int]:
    """(discovery, add, cleanup) counts of one run's calls, in order."""
    writes = [i for i, call in enumerate(calls) if not call.startswith("GET")]
    first_write = writes[0] if writes else len(calls)  # discovery's GET is reused by the add
    cleanup_start = next((i for i in range(first_write + 1, len(calls))
                          if calls[i].startswith("GET")), len(calls))
    return first_write, cleanup_start - first_write, len(calls) - cleanup_start


def peak_child_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def import_ms() -> tuple[float, float]:
    """Median ms to import certbot's DNS plugin base, then this plugin on top of it."""
    code = ("import time; t0 = time.perf_counter(); import certbot.plugins.dns_common; "
            "t1 = time.perf_counter(); import certbot_dns_hostinger.dns_hostinger; "
            "t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, timeout=60).stdout.split() for _ in range(5)]
    base = sorted(float(run[0]) for run in runs)[2]
    own = sorted(float(run[1]) for run in runs)[2]
    return base * 1000, own * 1000


if __name__ == "__main__":
    sys.exit(main())
