"""BillionMail's own list of domains and their mail host names, read from its database.

BillionMail keys every domain's certificate by the domain's mail host name, the
``a_record`` column of its ``domain`` table (``mail.<domain>`` when empty). The table
lives in PostgreSQL in the ``pgsql-billionmail`` container; like BillionMail's own
scripts, this runs ``psql`` there through ``docker exec``. The password (``DBPASS`` in
``.env``) goes through the docker CLI's environment (``-e PGPASSWORD`` without a value),
never on a command line, and never into a message.
"""

from __future__ import annotations

import dataclasses
import os
import re

from certbot_dns_hostinger.billionmail.docker import SERVICES, Docker, pick_container
from certbot_dns_hostinger.billionmail.errors import DeployError
from certbot_dns_hostinger.billionmail.install import Install

QUERY = "SELECT domain, a_record, active FROM domain ORDER BY domain"
COLUMNS = ["domain", "a_record", "active"]
SEPARATOR = "|"
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})+")
_FOOTER = re.compile(r"\(\d+ rows?\)")
_RULE = re.compile(r"[-+]+")


class DatabaseUnreadable(Exception):
    """Why the domain table could not be read, in words fit for the user (no secret)."""


@dataclasses.dataclass(frozen=True)
class Domain:
    """One row of BillionMail's ``domain`` table."""

    domain: str
    host: str
    active: bool


def read_domains(docker: Docker | None, install: Install) -> list[Domain]:
    """Every domain with its host name, as BillionMail's database has them."""
    if docker is None:
        raise DatabaseUnreadable("the docker CLI is not on PATH")
    missing = [key for key in ("DBNAME", "DBUSER", "DBPASS") if not install.env.get(key)]
    if missing:
        raise DatabaseUnreadable(f"{', '.join(missing)} not set in {install.root}/.env")
    password = install.env["DBPASS"]
    try:
        container = pick_container(docker, SERVICES["pgsql"], install.root)
        code, output, errors = docker.call(
            ["exec", "-i", "-e", "PGPASSWORD", container.id, "psql", "-X",
             "-U", install.env["DBUSER"], "-d", install.env["DBNAME"],
             "-A", "-t", "-F", SEPARATOR, "-c", QUERY],
            what="run psql", env={**os.environ, "PGPASSWORD": password})
    except DeployError as error:
        raise DatabaseUnreadable(_hide(str(error), password)) from None
    if code != 0:
        said = next((line.strip() for line in errors.splitlines() if line.strip()), "no output")
        raise DatabaseUnreadable(_hide(f"psql in {container.name} exited with {code}: {said}",
                                       password))
    return [row for row in map(_domain, parse_rows(output)) if row is not None]


def _hide(text: str, secret: str) -> str:
    return text.replace(secret, "********")


def parse_rows(output: str) -> list[list[str]]:
    """The rows of ``psql`` output: plain (``-A -t``) or with header, rule and footer."""
    rows = []
    for raw in output.splitlines():
        line = raw.strip()
        if not line or _FOOTER.fullmatch(line) or _RULE.fullmatch(line):
            continue
        fields = [field.strip() for field in line.split(SEPARATOR)]
        if len(fields) != len(COLUMNS):
            raise DatabaseUnreadable(f"psql printed an unexpected line {line[:80]!r}")
        if [field.lower() for field in fields] != COLUMNS:
            rows.append(fields)
    return rows


def _domain(fields: list[str]) -> Domain | None:
    domain = fields[0].lower().rstrip(".")
    host = fields[1].lower().rstrip(".") or f"mail.{domain}"
    if not HOST_NAME.fullmatch(domain) or not HOST_NAME.fullmatch(host):
        print(f"note: BillionMail's domain table has {fields[0]!r} with host name "
              f"{fields[1]!r}, which is not a DNS name; ignored")
        return None
    return Domain(domain, host, fields[2].lower() in ("1", "t", "true"))
