"""Hostinger's zone data: rrsets as read, names relative to a zone, and add/remove plans.

Pure functions on plain values; no HTTP, no certbot. TXT contents come back from the
API wrapped in double quotes; plans compare values bare.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from certbot_dns_hostinger.hostinger_http import HostingerError, excerpt


@dataclass(frozen=True)
class RRSet:
    """One record set of a zone as the API returns it (TXT contents still quoted)."""

    name: str
    type: str
    ttl: int
    contents: tuple[str, ...]

    def to_body(self) -> dict[str, Any]:
        """The rrset in the shape a PUT body expects."""
        return {
            "name": self.name,
            "type": self.type,
            "ttl": self.ttl,
            "records": [{"content": content} for content in self.contents],
        }


def unquote_txt(content: str) -> str:
    """Remove one pair of surrounding double quotes, as the API adds them to TXT values."""
    if len(content) >= 2 and content[0] == '"' and content[-1] == '"':
        return content[1:-1]
    return content


def zone_candidates(fqdn: str) -> list[str]:
    """Suffixes of ``fqdn`` that could be a zone, longest first.

    Single labels (TLDs) and names whose first label starts with ``_`` are skipped:
    neither can be a domain in a Hostinger account.
    """
    labels = fqdn.rstrip(".").lower().split(".")
    suffixes = (".".join(labels[i:]) for i in range(len(labels) - 1))
    return [suffix for suffix in suffixes if not suffix.startswith("_")]


def relative_name(fqdn: str, zone: str) -> str:
    """The name of ``fqdn`` relative to ``zone`` (``@`` for the apex), compared by labels."""
    name_labels = fqdn.rstrip(".").lower().split(".")
    zone_labels = zone.rstrip(".").lower().split(".")
    if name_labels == zone_labels:
        return "@"
    if name_labels[-len(zone_labels):] != zone_labels:
        raise ValueError(f"{fqdn} is not inside zone {zone}")
    return ".".join(name_labels[: -len(zone_labels)])


def absolute_name(name: str, zone: str) -> str:
    """The absolute name (no trailing dot) of a zone-relative ``name``."""
    name = name.rstrip(".").lower()
    return zone if name in ("@", "") else f"{name}.{zone}"


def parse_rrsets(payload: Any) -> list[RRSet]:
    """Parse a zone read defensively: unknown fields are ignored, malformed entries skipped."""
    if not isinstance(payload, list):
        raise HostingerError(f"Unexpected answer from Hostinger's API: {excerpt(repr(payload))}")
    rrsets = []
    for entry in payload:
        if not isinstance(entry, Mapping):
            continue
        name, rtype, ttl = entry.get("name"), entry.get("type"), entry.get("ttl")
        records = entry.get("records")
        if not isinstance(name, str) or not isinstance(rtype, str) or not isinstance(records, list):
            continue
        contents = tuple(
            record["content"]
            for record in records
            if isinstance(record, Mapping) and isinstance(record.get("content"), str)
        )
        rrsets.append(RRSet(name.lower(), rtype.upper(), ttl if isinstance(ttl, int) else 0,
                            contents))
    return rrsets



def _txt_rrsets(rrsets: Iterable[RRSet]) -> dict[str, RRSet]:
    return {rrset.name: rrset for rrset in rrsets if rrset.type == "TXT"}


def append_body(
    rrsets: Iterable[RRSet], wanted: Mapping[str, Collection[str]], ttl: int
) -> list[dict[str, Any]]:
    """PUT (overwrite: false) rrsets carrying every wanted value not yet present."""
    existing = _txt_rrsets(rrsets)
    body = []
    for name in sorted(wanted):
        current = existing.get(name.lower())
        present = {unquote_txt(content) for content in current.contents} if current else set()
        missing = sorted(set(wanted[name]) - present)
        if missing:
            rrset_ttl = current.ttl if current and current.ttl else ttl
            body.append(RRSet(name.lower(), "TXT", rrset_ttl, tuple(missing)).to_body())
    return body


def removal_plan(
    rrsets: Iterable[RRSet], unwanted: Mapping[str, Collection[str]]
) -> tuple[list[RRSet], list[str]]:
    """Split the touched TXT rrsets into those to write back and names to delete."""
    existing = _txt_rrsets(rrsets)
    keep: list[RRSet] = []
    delete: list[str] = []
    for name in sorted(unwanted):
        current = existing.get(name.lower())
        if current is None:
            continue
        ours = set(unwanted[name])
        remaining = tuple(c for c in current.contents if unquote_txt(c) not in ours)
        if len(remaining) == len(current.contents):
            continue
        if remaining:
            keep.append(RRSet(current.name, "TXT", current.ttl, remaining))
        else:
            delete.append(current.name)
    return keep, delete


def conflict_message(
    zone: str, wanted: Mapping[str, Collection[str]], rrsets: list[RRSet], error: HostingerError
) -> str:
    """Explain a DNS:4008 that is not a duplicate: a CNAME at the name or a delegated sub-zone."""
    present = {(rrset.name, rrset.type) for rrset in rrsets}
    missing = {rrset["name"] for rrset in append_body(rrsets, wanted, ttl=0)}
    causes = []
    for name in sorted(missing):
        fqdn = absolute_name(name, zone)
        if (name.lower(), "CNAME") in present:
            causes.append(f"{fqdn} has a CNAME record, which cannot coexist with TXT")
        else:
            causes.append(
                f"{fqdn} may lie inside a sub-zone delegated to its own zone or conflict "
                "with another record"
            )
    return f"{error} ({'; '.join(causes)})"
