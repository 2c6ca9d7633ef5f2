"""Hostinger's zone data: rrsets as read, names relative to a zone, and add/remove plans.

Pure functions on plain values; no HTTP, no certbot. TXT contents come back from the
API wrapped in double quotes; plans compare values bare and write them back bare.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from certbot_dns_hostinger.hostinger_http import HostingerError, excerpt


@dataclass(frozen=True)
class RRSet:
    """One record set of a zone as the API returns it (TXT contents still quoted).

    ``ttl`` is None when the read gave none; ``disabled`` holds the contents marked
    ``is_disabled`` (which a write cannot reproduce).
    """

    name: str
    type: str
    ttl: int | None
    contents: tuple[str, ...]
    disabled: frozenset[str] = field(default=frozenset())

    def to_body(self) -> dict[str, Any]:
        """The rrset in the shape a PUT body expects; no ``ttl`` key when it has none."""
        body: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.ttl is not None:
            body["ttl"] = self.ttl
        body["records"] = [{"content": content} for content in self.contents]
        return body


@dataclass(frozen=True)
class RemovalPlan:
    """What removing values from a zone takes, from one read of it.

    ``keep``: TXT rrsets to write back with others' values (bare, TTL as read);
    ``delete``: names whose rrset holds nothing else; ``blocked``: name -> why the
    rrset must not be written back, so our values stay there.
    """

    keep: list[RRSet]
    delete: list[str]
    blocked: dict[str, str]


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


def is_within(fqdn: str, zone: str) -> bool:
    """Whether ``fqdn`` is ``zone`` or a name below it, compared by labels."""
    name_labels = fqdn.rstrip(".").lower().split(".")
    zone_labels = zone.rstrip(".").lower().split(".")
    return name_labels[-len(zone_labels):] == zone_labels


def relative_name(fqdn: str, zone: str) -> str:
    """The name of ``fqdn`` relative to ``zone`` (``@`` for the apex), compared by labels."""
    if not is_within(fqdn, zone):
        raise ValueError(f"{fqdn} is not inside zone {zone}")
    name_labels = fqdn.rstrip(".").lower().split(".")
    depth = len(zone.rstrip(".").split("."))
    return ".".join(name_labels[:-depth]) or "@"


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
        valid = [record for record in records
                 if isinstance(record, Mapping) and isinstance(record.get("content"), str)]
        contents = tuple(record["content"] for record in valid)
        disabled = frozenset(record["content"] for record in valid
                             if record.get("is_disabled") is True)
        rrsets.append(RRSet(name.lower(), rtype.upper(), parse_ttl(ttl), contents, disabled))
    return rrsets


def parse_ttl(ttl: Any) -> int | None:
    """A TTL as read: a positive integral number, or a string of one (``"300"``, ``300.0``)."""
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float, str)):
        return None
    try:
        number = float(ttl)
    except ValueError:
        return None
    if not number.is_integer() or not 0 < number < 2**31:  # also rejects nan and inf
        return None
    return int(number)


def _txt_rrsets(rrsets: Iterable[RRSet]) -> dict[str, RRSet]:
    return {rrset.name: rrset for rrset in rrsets if rrset.type == "TXT"}


def txt_values(rrsets: Iterable[RRSet]) -> dict[str, set[str]]:
    """Bare TXT values per zone-relative name."""
    return {name: {unquote_txt(c) for c in rrset.contents}
            for name, rrset in _txt_rrsets(rrsets).items()}


def missing_values(
    rrsets: Iterable[RRSet], wanted: Mapping[str, Collection[str]]
) -> dict[str, list[str]]:
    """The wanted values (relative name -> values) that the rrsets do not hold yet."""
    present = txt_values(rrsets)
    missing = {name: sorted(set(wanted[name]) - present.get(name.lower(), set()))
               for name in sorted(wanted)}
    return {name: values for name, values in missing.items() if values}


def append_body(
    rrsets: Iterable[RRSet], wanted: Mapping[str, Collection[str]], ttl: int
) -> list[dict[str, Any]]:
    """PUT (overwrite: false) rrsets carrying only the wanted values not yet present.

    Others' values are never sent. An existing rrset keeps its TTL (appending sets the
    TTL sent); when the read gave it none, the body carries no ``ttl``.
    """
    rrsets = list(rrsets)
    existing = _txt_rrsets(rrsets)
    body = []
    for name, values in missing_values(rrsets, wanted).items():
        current = existing.get(name.lower())
        rrset_ttl = current.ttl if current else ttl
        body.append(RRSet(name.lower(), "TXT", rrset_ttl, tuple(values)).to_body())
    return body


def removal_plan(rrsets: Iterable[RRSet], unwanted: Mapping[str, Collection[str]]) -> RemovalPlan:
    """How to remove ``unwanted`` (relative name -> bare values), touching nothing else."""
    existing = _txt_rrsets(rrsets)
    plan = RemovalPlan([], [], {})
    for name in sorted(unwanted):
        current = existing.get(name.lower())
        if current is None:
            continue
        ours = set(unwanted[name])
        remaining = tuple(c for c in current.contents if unquote_txt(c) not in ours)
        if len(remaining) == len(current.contents):
            continue
        if not remaining:
            plan.delete.append(current.name)
            continue
        reason = write_back_problem(current, remaining)
        if reason:
            plan.blocked[current.name] = reason
        else:
            bare = tuple(unquote_txt(c) for c in remaining)
            plan.keep.append(RRSet(current.name, "TXT", current.ttl, bare))
    return plan


def write_back_problem(rrset: RRSet, remaining: Collection[str]) -> str | None:
    """Why writing ``remaining`` (others' contents as read) back could change them, if so."""
    if any(content in rrset.disabled for content in remaining):
        return "its record set also holds a disabled record, which the API cannot write back"
    if any('"' in unquote_txt(c) or "\\" in unquote_txt(c) for c in remaining):
        return ("its record set also holds a value with quotes or backslashes inside, which "
                "the API may store differently when written back")
    return None


def conflict_message(
    zone: str, wanted: Mapping[str, Collection[str]], rrsets: list[RRSet], error: HostingerError
) -> str:
    """Explain a DNS:4008 that is not a duplicate: a CNAME at the name or a delegated sub-zone."""
    present = {(rrset.name, rrset.type) for rrset in rrsets}
    missing = missing_values(rrsets, wanted)
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
