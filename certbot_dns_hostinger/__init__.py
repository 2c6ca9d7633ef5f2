"""The ``dns-hostinger`` authenticator: DNS-01 for certbot through Hostinger's DNS API.

For every name in the certificate, the plugin finds the zone of the API token's
Hostinger account that holds ``_acme-challenge.<name>`` (asking DNS which zone serves
it and following a CNAME placed there), checks that the domain is delegated to
Hostinger's nameservers before writing anything, appends the challenge value to
that TXT record set without touching any other record, polls every authoritative
nameserver of the zone until all of them serve it, and after validation removes
exactly the values it wrote. A value left by an interrupted run is removed by the
next run.

The package also installs ``billionmail-deploy``, a certbot deploy hook that
installs the certificate into a BillionMail mail server (see the documentation).

Named arguments
---------------

=================================================  =============================================
``--dns-hostinger-credentials PATH``               Hostinger credentials INI file (required;
                                                   certbot asks for it when run interactively).
``--dns-hostinger-propagation-seconds N``          Upper bound, in seconds, of the wait for the
                                                   nameservers (default: 600). With the
                                                   propagation check off, the fixed sleep.
``--dns-hostinger-propagation-check on|off``       ``on`` polls the authoritative nameservers
                                                   until every value is served; ``off`` sleeps
                                                   the propagation seconds instead (default:
                                                   ``on``).
``--dns-hostinger-ttl N``                          TTL of TXT record sets the plugin creates,
                                                   60 to 86400 seconds (default: 60).
``--dns-hostinger-nameservers HOST[:PORT],...``    Ask and poll these servers instead of the
                                                   system resolver and each zone's own
                                                   nameservers (default: the zone's NS records).
``--dns-hostinger-delegation-check on|off``        ``on`` refuses, before writing, a zone none of
                                                   whose public nameservers is Hostinger's;
                                                   ``off`` skips that check (default: ``on``).
=================================================  =============================================

certbot saves the options given on the command line, and the absolute path of the
credentials file, in the renewal configuration, so ``certbot renew`` reuses them.

Credentials
-----------

Create an API token in hPanel (Profile, then API). The token carries every right of
the account it belongs to; there is no DNS-only scope. Put it in an INI file:

.. code-block:: ini
   :caption: /etc/letsencrypt/hostinger.ini

   # Hostinger API token (required)
   dns_hostinger_api_token = PASTE_THE_TOKEN_HERE
   # API base URL (optional; https only, plain http only for a loopback address)
   # dns_hostinger_api_url = https://developers.hostinger.com

.. caution::
   Anyone who can read this file controls the Hostinger account. Make it readable by
   root only (``chmod 600``). certbot prints ``Unsafe permissions on credentials
   configuration file`` when other users can read it. The plugin never logs the
   token and removes it from every message it shows.

Examples
--------

One certificate for one mail host:

.. code-block:: bash

   certbot certonly --authenticator dns-hostinger \\
     --dns-hostinger-credentials /etc/letsencrypt/hostinger.ini \\
     -d mail.example.com

A wildcard with its apex (both values share ``_acme-challenge.example.com``):

.. code-block:: bash

   certbot certonly --authenticator dns-hostinger \\
     --dns-hostinger-credentials /etc/letsencrypt/hostinger.ini \\
     -d example.com -d '*.example.com'

Several mail domains in one certificate, installed into BillionMail on every renewal:

.. code-block:: bash

   certbot certonly --authenticator dns-hostinger \\
     --dns-hostinger-credentials /etc/letsencrypt/hostinger.ini \\
     -d mail.example.com -d mail.example.org -d mail.news.example.com \\
     --deploy-hook billionmail-deploy
"""

__version__ = "0.1.0"
