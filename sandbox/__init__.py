"""The local sandbox: stand-ins of every outside system the plugin and the hook talk to.

Not shipped. ``tests/`` and ``tools/`` (``make demo``, ``make bench``, ``make soak``) use it:

- :mod:`sandbox.accounts`: the stand-in Hostinger account (token, zones);
- :mod:`sandbox.hostinger_api`: an HTTP(S) stand-in of Hostinger's DNS API;
- :mod:`sandbox.dns_server`: loopback authoritative nameservers serving its zones;
- :mod:`sandbox.stack`: Pebble, the API and two nameservers wired together, and certbot runs;
- :mod:`sandbox.ca`: a throwaway CA and certificate facts;
- :mod:`sandbox.billionmail_host`: a BillionMail tree with real Postfix and Dovecot;
- ``sandbox/fake_docker.py``, ``sandbox/fake_psql.py`` and ``sandbox/panel.py``: the
  stand-in ``docker``, BillionMail's database (``psql``) and panel;
- :mod:`sandbox.postgres`: a real, throwaway PostgreSQL with BillionMail's ``domain``
  table, to check the stand-in ``psql`` against;
- :mod:`sandbox.processes`: free ports, clean stops, timed kills;
- :mod:`sandbox.default_path`: a run of the default path (system resolver, nameservers on
  port 53) inside a private network namespace;
- :mod:`sandbox.debian_root` and ``sandbox/chroot_exec.py``: Debian 12/13 roots made with
  mmdebstrap, and commands run inside them in a private mount namespace;
- :mod:`sandbox.certbot_venv`: older certbot releases (2.9) in their own environments;
- :mod:`sandbox.cache`: where those two keep what they made (outside the checkout).

Everything listens on 127.0.0.1 only, or on 127.0.0.x addresses inside a private
network namespace (``unshare -n``). Nothing here imports pytest, ``tests/`` or certbot's
private modules.
"""
