"""The default path end to end: no --dns-hostinger-nameservers, DNS from /etc/resolv.conf.

Runs in a private network and mount namespace (``sandbox/default_path.py``): a resolver
stand-in on 127.0.0.53:53 is the system resolver for certbot and Pebble, and
ns1/ns2.dns-parking.com listen on port 53 of their own loopback addresses.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from sandbox.default_path import NAMES, run

pytestmark = [
    pytest.mark.issuance,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                       reason="needs root and unshare for a private network namespace"),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    host_resolv = Path("/etc/resolv.conf").read_text()
    result = run(tmp_path_factory.mktemp("default-path"))
    assert Path("/etc/resolv.conf").read_text() == host_resolv  # the namespace's own view
    return result


def test_only_the_credentials_option_issues(report: dict[str, Any]) -> None:
    issued = report["issued"]
    assert report["resolv.conf"].startswith("nameserver 127.0.0.53\n")
    assert issued["args"] == ["--authenticator", "--dns-hostinger-credentials", "--cert-name"]
    assert issued["returncode"] == 0, issued["stderr"]
    assert issued["names"] == sorted(NAMES)
    # DNS named both zones: one read and one write per zone to add, the same to clean up.
    assert sorted(issued["calls"]) == sorted(
        f"{method} {zone}" for zone in ("example.com", "example.co.uk")
        for method in ("GET", "PUT", "GET", "DELETE"))
    assert issued["unchanged"] and not issued["token_seen"]
    # The servers polled were the zones' NS hosts, found through the system resolver.
    assert "on ns1.dns-parking.com, ns2.dns-parking.com" in issued["stdout"]
    assert all(count > 0 for count in issued["polled"])


def test_a_zone_delegated_elsewhere_is_refused_before_any_write(report: dict[str, Any]) -> None:
    refused = report["refused"]
    assert refused["returncode"] != 0
    assert ("Zone example.com is not delegated to Hostinger: public DNS gives the nameservers "
            "of example.com as ns1.elsewhere.example.net, ns2.elsewhere.example.net, "
            "Hostinger's are ns1.dns-parking.com, ns2.dns-parking.com,") in refused["stderr"]
    assert "Traceback" not in refused["stderr"]
    assert [call for call in refused["calls"] if not call.startswith("GET ")] == []
    assert refused["unchanged"] and not refused["token_seen"]
    assert refused["polled"] == [0, 0]
