"""BillionMail's own file formats: Postfix SNI map lines and Dovecot ``local_name`` blocks."""

from __future__ import annotations

import re
from collections.abc import Iterable

from certbot_dns_hostinger.billionmail.errors import DeployError

CONTAINER_SSL = "/etc/ssl/mail"
MAP_FILE = "conf/postfix/conf/vmail_ssl.map"
MAP_IN_CONTAINER = "hash:/etc/postfix/conf/vmail_ssl.map"
DOVECOT_SSL_FILE = "conf/dovecot/conf.d/10-ssl.conf"


def map_line(name: str) -> str:
    """BillionMail's Postfix SNI map line: key file first, container paths."""
    folder = f"{CONTAINER_SSL}/{name}"
    return f"{name} {folder}/privkey.pem {folder}/fullchain.pem"


def map_with(text: str, names: Iterable[str]) -> str:
    """The map with one line per name; every other line, and the map's shape, kept.

    Core splits the map on ``\n`` and joins it with ``\n`` (so it usually starts with an
    empty line and has no final newline); this edits it the same way. A line already
    equal to the wanted one, but for spacing, is left as it is.
    """
    lines = text.split("\n")
    for name in names:
        wanted = map_line(name)
        at = [i for i, line in enumerate(lines) if line.split()[:1] == [name]]
        if at:
            if lines[at[0]].split() != wanted.split():
                lines[at[0]] = wanted
            lines = [line for i, line in enumerate(lines) if i not in at[1:]]
        elif len(lines) > 1 and lines[-1] == "":
            lines.insert(len(lines) - 1, wanted)  # keep a final newline where there was one
        else:
            lines.append(wanted)
    return "\n".join(lines)


def dovecot_block(name: str) -> str:
    """The marked ``local_name`` block core appends for one name, with its empty line."""
    folder = f"{CONTAINER_SSL}/{name}"
    return (f"\n#DOMAIN_SSL_BEGIN_{name}\n"
            f"local_name {name} {{\n"
            f"    ssl_cert = < {folder}/fullchain.pem\n"
            f"    ssl_key = < {folder}/privkey.pem\n"
            f"}}\n"
            f"#DOMAIN_SSL_END_{name}\n")


def dovecot_with(text: str, names: Iterable[str]) -> str:
    """``10-ssl.conf`` with one marked block per name; other blocks kept exactly.

    A block that already says the same as the wanted one (compared line by line, not by
    its position or spacing: core moves blocks to the end and rewrites them) is kept.
    """
    for name in names:
        marked = _marked(name)
        blocks = list(marked.finditer(text))
        outside = marked.sub("", text)
        if re.search(rf"^\s*local_name\s+{re.escape(name)}\s*\{{", outside, re.MULTILINE):
            raise DeployError(f"{DOVECOT_SSL_FILE} has a local_name {name} block outside "
                              f"BillionMail's #DOMAIN_SSL markers; remove it and run again")
        wanted = dovecot_block(name)
        if len(blocks) == 1 and canonical(blocks[0].group()) == canonical(wanted):
            continue
        if not blocks:
            text += wanted
            continue
        for block in reversed(blocks[1:]):
            start, end = block.start(), block.end()
            start -= text[start - 2:start] == "\n\n"
            end += text[end:end + 1] == "\n"
            text = text[:start] + text[end:]
        first = blocks[0]
        text = text[:first.start()] + wanted.strip("\n") + text[first.end():]
    return text


def _marked(name: str) -> re.Pattern[str]:
    """One name's block, marker to marker (names matched exactly)."""
    quoted = re.escape(name)
    return re.compile(rf"^[ \t]*#DOMAIN_SSL_BEGIN_{quoted}[ \t]*\n.*?"
                      rf"^[ \t]*#DOMAIN_SSL_END_{quoted}[ \t]*$", re.MULTILINE | re.DOTALL)


def canonical(block: str) -> list[str]:
    """A block's meaning: its non-empty lines, spacing normalised (``= <`` as ``=<``)."""
    lines = (" ".join(line.split()) for line in block.splitlines())
    return [re.sub(r"\s*=\s*<\s*", " =<", line) for line in lines if line]
