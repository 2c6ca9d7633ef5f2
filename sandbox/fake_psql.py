"""A stand-in ``psql`` for BillionMail's ``domain`` table (standard library only).

Given the table (``{"name", "user", "password", "state", "rows": [...]}``), the
environment ``docker exec`` passed and psql's arguments, it answers
``SELECT <columns> FROM domain [ORDER BY ...]`` the way psql prints it: aligned with a
header and a ``(N rows)`` footer by default, unaligned with ``-A``, without header and
footer with ``-t``, fields separated by ``-F``. It fails as psql does when the server is
down (``state: "down"``), the password in ``PGPASSWORD`` is wrong or missing, or the
role, database or column does not exist.
"""

from __future__ import annotations

import re
from typing import Any

SOCKET = 'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed'
COLUMNS = ("domain", "a_record", "active", "create_time")
NUMERIC = frozenset({"active", "create_time"})
QUERY = re.compile(r"\s*select\s+(?P<columns>.+?)\s+from\s+domain"
                   r"(?:\s+order\s+by\s+[\w, ]+)?\s*;?\s*", re.IGNORECASE | re.DOTALL)


def psql(database: dict[str, Any], env: dict[str, str],
         args: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``psql ARGS`` against ``database``."""
    options = _options(args)
    user, name = options.get("-U", "postgres"), options.get("-d", "postgres")
    if database.get("state") == "down":
        return 2, "", (f"psql: error: {SOCKET}: No such file or directory\n"
                       f"\tIs the server running locally and accepting connections on "
                       f"that socket?\n")
    if user != database.get("user"):
        return 2, "", f'psql: error: {SOCKET}: FATAL:  role "{user}" does not exist\n'
    if env.get("PGPASSWORD") != database.get("password"):
        return 2, "", (f"psql: error: {SOCKET}: FATAL:  password authentication failed "
                       f'for user "{user}"\n')
    if name != database.get("name"):
        return 2, "", f'psql: error: {SOCKET}: FATAL:  database "{name}" does not exist\n'
    match = QUERY.fullmatch(options.get("-c", ""))
    if match is None:
        return 1, "", "ERROR:  this stand-in answers only SELECT ... FROM domain\n"
    columns = [column.strip().lower() for column in match["columns"].split(",")]
    for column in columns:
        if column not in COLUMNS:
            return 1, "", f'ERROR:  column "{column}" does not exist\n'
    rows = [[_text(row.get(column)) for column in columns] for row in database.get("rows", [])]
    return 0, render(columns, rows, aligned="-A" not in options, tuples_only="-t" in options,
                     separator=options.get("-F", "|")), ""


def _options(args: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    while args:
        option, args = args[0], args[1:]
        if option in ("-U", "-d", "-c", "-F") and args:
            options[option], args = args[0], args[1:]
        else:
            options[option] = ""
    return options


def _text(value: object) -> str:
    return "" if value is None else str(value)


def render(columns: list[str], rows: list[list[str]], *, aligned: bool, tuples_only: bool,
           separator: str = "|") -> str:
    """Rows as psql prints them (checked byte for byte against a real psql 15).

    Aligned output pads every cell to its column's width, numbers to the right; the last
    column is not padded when it is text. Header names are centred, the extra space of
    an odd padding on the right.
    """
    footer = f"({len(rows)} row{'' if len(rows) == 1 else 's'})"
    if not aligned:
        lines = [separator.join(row) for row in rows]
        if not tuples_only:
            lines = [separator.join(columns), *lines, footer]
        return "".join(f"{line}\n" for line in lines)
    widths = [max([len(column)] + [len(row[i]) for row in rows]) for i, column in
              enumerate(columns)]
    body = [" " + " | ".join(_cell(columns, widths, i, cell) for i, cell in enumerate(row))
            for row in rows]
    if tuples_only:
        return "".join(f"{line}\n" for line in body) + "\n"
    header = " " + " | ".join(_centred(column, widths[i]) for i, column in enumerate(columns))
    rule = "+".join("-" * (width + 2) for width in widths)
    return "".join(f"{line}\n" for line in [header + " ", rule, *body, footer, ""])


def _cell(columns: list[str], widths: list[int], index: int, cell: str) -> str:
    if columns[index] in NUMERIC:
        return cell.rjust(widths[index])
    return cell if index == len(columns) - 1 else cell.ljust(widths[index])


def _centred(name: str, width: int) -> str:
    left = (width - len(name)) // 2
    return " " * left + name + " " * (width - len(name) - left)
