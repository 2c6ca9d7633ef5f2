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
    """The map with one exact line per name; other lines kept."""
    lines = text.splitlines()
    for name in names:
        wanted = map_line(name)
        at = [i for i, line in enumerate(lines) if line.split()[:1] == [name]]
        if at:
            lines[at[0]] = wanted
            lines = [line for i, line in enumerate(lines) if i not in at[1:]]
        else:
            lines.append(wanted)
    return "".join(f"{line}\n" for line in lines)


def dovecot_block(name: str) -> str:
    """BillionMail's marked ``local_name`` block for one name."""
    folder = f"{CONTAINER_SSL}/{name}"
    return (f"#DOMAIN_SSL_BEGIN_{name}\n"
            f"local_name {name} {{\n"
            f"    ssl_cert = <{folder}/fullchain.pem\n"
            f"    ssl_key = <{folder}/privkey.pem\n"
            f"}}\n"
            f"#DOMAIN_SSL_END_{name}\n")


def dovecot_with(text: str, names: Iterable[str]) -> str:
    """``10-ssl.conf`` with one marked block per name; other blocks kept."""
    for name in names:
        marked = re.compile(rf"^#DOMAIN_SSL_BEGIN_{re.escape(name)}[ \t]*\n.*?"
                            rf"^#DOMAIN_SSL_END_{re.escape(name)}[ \t]*(?:\n|\Z)",
                            re.MULTILINE | re.DOTALL)
        blocks = list(marked.finditer(text))
        outside = marked.sub("", text)
        if re.search(rf"^\s*local_name\s+{re.escape(name)}\s*\{{", outside, re.MULTILINE):
            raise DeployError(f"{DOVECOT_SSL_FILE} has a local_name {name} block outside "
                              f"BillionMail's #DOMAIN_SSL markers; remove it and run again")
        if blocks:
            first = blocks[0]
            rest = marked.sub("", text[first.end():])
            text = text[:first.start()] + dovecot_block(name) + rest
        else:
            if text and not text.endswith("\n"):
                text += "\n"
            text += dovecot_block(name)
    return text
