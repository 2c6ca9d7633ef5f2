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
- :mod:`sandbox.processes`: free ports, clean stops, timed kills.

Everything listens on 127.0.0.1 only. Nothing here imports pytest, ``tests/`` or certbot's
private modules.
"""
