"""The stand-in Hostinger account: its API token and the zones every run starts from."""

from __future__ import annotations

from typing import Any

TOKEN = "hst-test-token-5f0c9d2e8a7b4c1d"

EXAMPLE_COM = [
    {"name": "@", "type": "A", "ttl": 14400, "records": [{"content": "203.0.113.10"}]},
    {"name": "@", "type": "MX", "ttl": 14400, "records": [{"content": "10 mail.example.com."}]},
    {"name": "@", "type": "TXT", "ttl": 3600,
     "records": [{"content": "v=spf1 mx a include:_spf.mail.hostinger.com ~all"}]},
    {"name": "@", "type": "NS", "ttl": 86400,
     "records": [{"content": "ns1.dns-parking.com."}, {"content": "ns2.dns-parking.com."}]},
    {"name": "default._domainkey", "type": "TXT", "ttl": 3600,
     "records": [{"content": "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAx"}]},
    {"name": "_dmarc", "type": "TXT", "ttl": 3600,
     "records": [{"content": "v=DMARC1; p=quarantine"}]},
    {"name": "mail", "type": "A", "ttl": 300, "records": [{"content": "203.0.113.25"}]},
    {"name": "mail.news", "type": "A", "ttl": 300, "records": [{"content": "203.0.113.26"}]},
    {"name": "www", "type": "CNAME", "ttl": 300, "records": [{"content": "example.com."}]},
]
EXAMPLE_CO_UK = [
    {"name": "@", "type": "A", "ttl": 14400, "records": [{"content": "198.51.100.7"}]},
    {"name": "mail", "type": "A", "ttl": 14400, "records": [{"content": "198.51.100.8"}]},
    {"name": "@", "type": "MX", "ttl": 14400, "records": [{"content": "5 mail.example.co.uk."}]},
]
SUB_ZONE = [  # b.example.com, delegated to its own zone in the same account
    {"name": "@", "type": "A", "ttl": 14400, "records": [{"content": "192.0.2.1"}]},
    {"name": "a", "type": "A", "ttl": 14400, "records": [{"content": "192.0.2.2"}]},
]


def account_zones() -> dict[str, list[dict[str, Any]]]:
    """The zones every test starts from (copied, so tests cannot leak into each other)."""
    return {
        "example.com": [dict(r) for r in EXAMPLE_COM],
        "example.co.uk": [dict(r) for r in EXAMPLE_CO_UK],
        "b.example.com": [dict(r) for r in SUB_ZONE],
    }
