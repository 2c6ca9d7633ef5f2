"""``python -m certbot_dns_hostinger.billionmail``: the same as ``billionmail-deploy``."""

import sys

from certbot_dns_hostinger.billionmail.cli import main

sys.exit(main())
