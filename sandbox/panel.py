"""A stand-in for BillionMail's panel (core container), standard library only.

Like the real panel it loads ``ssl/cert.pem`` and every ``ssl/<name>/`` pair once at
start and keeps serving them until restarted. It answers HTTPS on 127.0.0.1 with SNI.

Usage: ``python sandbox/panel.py SSL_DIR PORT``.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from pathlib import Path


def contexts(ssl_dir: Path) -> tuple[ssl.SSLContext, dict[str, ssl.SSLContext]]:
    default = _context(ssl_dir / "cert.pem", ssl_dir / "key.pem")
    by_name = {}
    for chain in ssl_dir.glob("*/fullchain.pem"):
        by_name[chain.parent.name] = _context(chain, chain.parent / "privkey.pem")
    return default, by_name


def _context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def serve(ssl_dir: Path, port: int) -> None:
    default, by_name = contexts(ssl_dir)

    def pick(sock: ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
        if name and name.lower() in by_name:
            sock.context = by_name[name.lower()]

    default.sni_callback = pick
    listener = _listen(port)
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_answer, args=(default, client), daemon=True).start()


def _listen(port: int) -> socket.socket:
    """Bind, waiting for a restarted predecessor to let go of the port."""
    deadline = time.monotonic() + 15
    while True:
        try:
            return socket.create_server(("127.0.0.1", port))
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _answer(context: ssl.SSLContext, client: socket.socket) -> None:
    try:
        client.settimeout(5)
        with context.wrap_socket(client, server_side=True) as tls:
            tls.recv(1024)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    except OSError:
        client.close()


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]))
