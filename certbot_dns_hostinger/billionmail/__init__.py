"""``billionmail-deploy``: install a certbot certificate into BillionMail, reload, verify.

Certbot runs this as a deploy hook (``RENEWED_LINEAGE`` in the environment) after each
issuance or renewal; ``--lineage DIR`` runs it by hand. One run:

1. find the BillionMail install and its containers (by compose labels);
2. load the lineage and check it: parses, key matches, valid now;
3. read BillionMail's host names (the ``a_record`` of each active domain) from its
   database, or else from its files;
4. plan the files for every host name the certificate covers: ``ssl/<host>/`` pairs,
   Postfix SNI map lines, Dovecot ``local_name`` blocks in core's formats, and the
   default ``ssl/cert.pem`` + ``ssl/key.pem`` when the certificate covers
   ``BILLIONMAIL_HOSTNAME``; nothing is written when nothing differs, and a certificate
   that fits nothing is an error;
5. write atomically, keeping the previous bytes in memory;
6. ``postmap -F`` + ``postfix reload``, ``doveconf -n`` + ``doveadm reload``, and a core
   restart per ``--restart-core``;
7. TLS handshakes on 127.0.0.1 to every port in ``.env``, comparing fingerprints; on a
   failed reload or a mismatch the previous files come back and services reload again.

Standalone: it imports neither certbot nor the rest of this package. One module per
concern: ``certificates`` (the lineage and its checks), ``install`` (directory and
``.env``), ``docker`` (the CLI and compose labels), ``database`` and ``hosts``
(BillionMail's host names), ``formats`` (map lines and Dovecot
blocks), ``plan``, ``files`` (atomic writes and rollback), ``state``, ``services``
(reloads), ``verify`` (TLS handshakes), ``deploy``, ``status`` and ``cli``.
"""

from certbot_dns_hostinger.billionmail.cli import main

__all__ = ["main"]
