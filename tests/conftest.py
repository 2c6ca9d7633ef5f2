"""Shared fixtures: a realistic account of zones behind the stand-in API."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.resolver
import pytest
from certbot._internal.display import obj as display_obj

from certbot_dns_hostinger.hostinger_wait import clear_holds
from sandbox.accounts import TOKEN, account_zones
from sandbox.hostinger_api import HostingerStub, ZoneStore


@pytest.fixture
def store() -> ZoneStore:
    return ZoneStore(account_zones())


@pytest.fixture
def api(store: ZoneStore) -> Iterator[HostingerStub]:
    with HostingerStub(store, [TOKEN]) as stub:
        yield stub


@pytest.fixture
def credentials(tmp_path: Path, api: HostingerStub) -> Path:
    path = tmp_path / "hostinger.ini"
    path.write_text(f"dns_hostinger_api_token = {TOKEN}\ndns_hostinger_api_url = {api.url}\n")
    os.chmod(path, 0o600)
    return path


@pytest.fixture(autouse=True)
def display() -> Iterator[io.StringIO]:
    """certbot's non-interactive display, writing what the user would see into a buffer."""
    output = io.StringIO()
    display_obj.set_display(display_obj.NoninteractiveDisplay(output))
    yield output


@pytest.fixture(autouse=True)
def no_holds() -> Iterator[None]:
    """Each test starts as a new certbot process: no API URL on hold after a long Retry-After."""
    clear_holds()
    yield
    clear_holds()


@pytest.fixture
def use_system_resolver(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """``use_system_resolver(port)``: ``dns.resolver.Resolver()`` asks 127.0.0.1 on ``port``.

    Tests of the default path use it so that no query leaves the loopback address.
    """
    original = dns.resolver.Resolver

    def point_at(port: int) -> None:
        def make(*args: object, **kwargs: object) -> dns.resolver.Resolver:
            resolver = original(configure=False)
            resolver.nameservers = ["127.0.0.1"]
            resolver.port = port
            return resolver

        monkeypatch.setattr(dns.resolver, "Resolver", make)

    return point_at
