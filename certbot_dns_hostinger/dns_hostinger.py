"""certbot glue: options, credentials, batching of all challenges, user messages.

One run, top to bottom (``perform`` then ``cleanup``):

1. read and check the credentials and options, before anything is written;
2. map every validation name to its zone, following CNAMEs, and check that the zone is
   delegated to Hostinger (:mod:`.discovery`), before anything is written;
3. remove values an earlier run left behind (:mod:`.cleanup`, :mod:`.journal`);
4. per zone, one read (the one discovery made), the values into the journal, one append;
5. wait until every authoritative nameserver serves every value (:mod:`.propagation`);
6. after validation, per zone, remove exactly the values written (:mod:`.cleanup`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from acme import challenges
from certbot import achallenges, errors
from certbot.display import util as display_util
from certbot.plugins import dns_common

from certbot_dns_hostinger import dns_lookup, hostinger, propagation
from certbot_dns_hostinger.cleanup import Cleaner, journaled_write
from certbot_dns_hostinger.discovery import Discovery, DiscoveryError
from certbot_dns_hostinger.hostinger_http import (
    DEFAULT_API_URL,
    HostingerError,
    RateLimitedError,
    check_api_url,
)
from certbot_dns_hostinger.hostinger_records import absolute_name
from certbot_dns_hostinger.journal import Entry, Journal, JournalError, by_zone

logger = logging.getLogger(__name__)

DEFAULT_PROPAGATION_SECONDS = 600
"""Upper bound of the propagation wait: Hostinger's stated worst case (10 minutes)."""
DEFAULT_TTL = 60
MIN_TTL = 60
MAX_TTL = 86400

TOKEN_KEY = "api_token"  # noqa: S105 - a key name, not a secret
URL_KEY = "api_url"
TOKEN_HINT = "the API token made in hPanel (Profile > API)"  # noqa: S105

Pair = tuple[str, str]  # (validation name, validation value)


class Authenticator(dns_common.DNSAuthenticator):
    """DNS Authenticator for Hostinger.

    Answers dns-01 challenges with TXT records written through Hostinger's DNS API and
    removes exactly the values it wrote.
    """

    description = (
        "Obtain certificates using a DNS TXT record (if you are using Hostinger for DNS)."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.credentials: dns_common.CredentialsConfiguration | None = None
        self._client: hostinger.HostingerClient | None = None
        self._written: dict[Pair, Entry] = {}

    @classmethod
    def add_parser_arguments(
        cls,
        add: Callable[..., None],
        default_propagation_seconds: int = DEFAULT_PROPAGATION_SECONDS,
    ) -> None:
        super().add_parser_arguments(add, default_propagation_seconds)
        add("credentials", help="Path to the Hostinger credentials INI file.")
        add("ttl", type=int, default=DEFAULT_TTL,
            help=f"TTL of the TXT records in seconds ({MIN_TTL} to {MAX_TTL}).")
        add("nameservers", default=None,
            help="Comma-separated HOST[:PORT] list of nameservers to poll instead of the "
                 "zone's own authoritative servers.")
        add("propagation-check", choices=("on", "off"), default="on",
            help="'on' polls the authoritative nameservers until every record is served, "
                 "waiting at most --dns-hostinger-propagation-seconds; 'off' sleeps that long.")
        add("delegation-check", choices=("on", "off"), default="on",
            help="'on' refuses, before writing, a zone whose public nameservers are not "
                 "Hostinger's; 'off' skips that comparison.")

    def more_info(self) -> str:
        return (
            "This plugin answers dns-01 challenges with TXT records written through "
            "Hostinger's DNS API, waits until Hostinger's nameservers serve them, and "
            "removes them afterwards."
        )

    def auth_hint(self, failed_achalls: list[achallenges.AnnotatedChallenge]) -> str:
        return (
            f"The Certificate Authority could not see the TXT records created by --{self.name}. "
            "Check that these names are in a zone of the token's Hostinger account and are "
            "served by Hostinger's nameservers. If the propagation check is off, try a larger "
            f"--{self.name}-propagation-seconds (currently {self.conf('propagation-seconds')})."
        )

    # -- certbot entry points ---------------------------------------------------------------

    def perform(self, achalls: list[achallenges.AnnotatedChallenge]
                ) -> list[challenges.ChallengeResponse]:
        self._add([_challenge_pair(achall) for achall in achalls])
        return [achall.response(achall.account_key) for achall in achalls]

    def cleanup(self, achalls: list[achallenges.AnnotatedChallenge]) -> None:
        if self._attempt_cleanup:
            self._remove_pairs([_challenge_pair(achall) for achall in achalls])

    # DNSAuthenticator declares these two abstract; perform and cleanup above batch all
    # challenges instead, so these are only the one-line bridges the base class requires.
    def _perform(self, domain: str, validation_name: str, validation: str) -> None:
        self._add([(validation_name, validation)])

    def _cleanup(self, domain: str, validation_name: str, validation: str) -> None:
        self._remove_pairs([(validation_name, validation)])

    # -- credentials and options --------------------------------------------------------------

    def _setup_credentials(self) -> None:
        path = self.conf("credentials")
        if path:
            _check_readable(path)
        self.credentials = self._configure_credentials(
            "credentials", "Hostinger credentials INI file", {TOKEN_KEY: TOKEN_HINT},
            self._validate_credentials,
        )

    def _validate_credentials(self, credentials: dns_common.CredentialsConfiguration) -> None:
        path = credentials.confobj.filename
        token = (credentials.conf(TOKEN_KEY) or "").strip()
        if not token:
            raise errors.PluginError(f"{self.dest(TOKEN_KEY)} is empty in {path}; set it to "
                                     f"{TOKEN_HINT}.")
        if any(char.isspace() for char in token):
            raise errors.PluginError(f"{self.dest(TOKEN_KEY)} in {path} contains white space; "
                                     "copy the whole token and nothing else.")
        if not (token.isascii() and token.isprintable()):
            raise errors.PluginError(f"{self.dest(TOKEN_KEY)} in {path} contains characters "
                                     "that are not printable ASCII; copy the token again.")
        try:
            check_api_url(credentials.conf(URL_KEY) or DEFAULT_API_URL)
        except ValueError as error:
            raise errors.PluginError(f"{self.dest(URL_KEY)} in {path}: {error}") from None

    def _checked_ttl(self) -> int:
        ttl = self.conf("ttl")
        if not isinstance(ttl, int) or not MIN_TTL <= ttl <= MAX_TTL:
            raise errors.PluginError(
                f"--{self.name}-ttl must be between {MIN_TTL} and {MAX_TTL} seconds, not {ttl}."
            )
        return ttl

    def _checked_nameservers(self) -> list[dns_lookup.Nameserver] | None:
        spec = self.conf("nameservers")
        if not spec:
            return None
        try:
            return dns_lookup.parse_nameservers(spec)
        except ValueError as error:
            raise errors.PluginError(f"--{self.name}-nameservers: {error}") from None

    def _checked_wait(self) -> int:
        seconds = self.conf("propagation-seconds")
        if not isinstance(seconds, int) or seconds < 0:
            raise errors.PluginError(
                f"--{self.name}-propagation-seconds must be 0 or more, not {seconds}."
            )
        return seconds

    def _get_client(self) -> hostinger.HostingerClient:
        if self.credentials is None:
            raise errors.Error("Plugin has not been prepared.")
        if self._client is None:
            self._client = hostinger.HostingerClient(
                (self.credentials.conf(TOKEN_KEY) or "").strip(), self._api_url()
            )
        return self._client

    def _api_url(self) -> str:
        if self.credentials is None:
            raise errors.Error("Plugin has not been prepared.")
        return check_api_url(self.credentials.conf(URL_KEY) or DEFAULT_API_URL)

    def _journal(self) -> Journal:
        return Journal(self.config.work_dir)

    # -- adding -------------------------------------------------------------------------------

    def _add(self, pairs: Sequence[Pair]) -> None:
        self._setup_credentials()
        ttl = self._checked_ttl()
        wait = self._checked_wait()
        override = self._checked_nameservers()
        self._attempt_cleanup = True
        client = self._get_client()
        with _plugin_errors():
            api_url = self._api_url()
            try:
                discovery = Discovery(client, override, self.conf("delegation-check") != "off",
                                      poll_public=self.conf("propagation-check") != "off")
                targets = {pair: discovery.target(pair[0]) for pair in pairs}
                self._cleaner().remove_leftovers(api_url)
                entries = {pair: Entry(api_url, target.zone, target.name, pair[1],
                                       client.account)
                           for pair, target in targets.items()}
                self._write(client, entries, ttl)
            except RateLimitedError as error:
                raise errors.PluginError(self._cleaner().stopped(error, api_url)) from None
            self._wait_for_propagation(list(entries.values()), discovery, wait)

    def _write(self, client: hostinger.HostingerClient, entries: dict[Pair, Entry],
               ttl: int) -> None:
        """Per zone: the read, the zone's entries into the journal, then one append."""
        journal = self._journal()
        for zone, wanted in by_zone(entries.values()).items():
            client.zone_records(zone)  # so a journal entry means its write was sent
            mine = {pair: entry for pair, entry in entries.items() if entry.zone == zone}
            with journaled_write(journal, list(mine.values()), self._written, list(mine)):
                client.add_txt_values(zone, wanted, ttl)

    def _wait_for_propagation(self, entries: list[Entry], discovery: Discovery,
                              limit: int) -> None:
        if self.conf("propagation-check") == "off":
            display_util.notify(f"Waiting {limit} seconds for DNS changes to propagate")
            time.sleep(limit)
            return
        checks = [
            propagation.Check(
                tuple(discovery.nameservers(zone)),
                {absolute_name(name, zone): frozenset(values)
                 for name, values in wanted.items()},
            )
            for zone, wanted in by_zone(entries).items()
        ]
        labels = sorted({server.label for check in checks for server in check.servers})
        display_util.notify(
            f"Waiting up to {limit} s for {len(entries)} TXT record(s) on {', '.join(labels)}"
        )
        waited = propagation.wait_for_records(checks, timeout=limit)
        display_util.notify(f"TXT records served by every nameserver after {waited:.1f} s")

    # -- removing -----------------------------------------------------------------------------

    def _remove_pairs(self, pairs: Iterable[Pair]) -> None:
        entries = [self._written.pop(pair) for pair in pairs if pair in self._written]
        if entries:
            self._cleaner().remove_written(entries)

    def _cleaner(self) -> Cleaner:
        return Cleaner(self._get_client(), self._journal())


@contextlib.contextmanager
def _plugin_errors() -> Iterator[None]:
    """Turn the client's, discovery's and the DNS checks' errors into one-line PluginErrors."""
    try:
        yield
    except (HostingerError, DiscoveryError, dns_lookup.LookupFailed,
            propagation.PropagationError, JournalError) as error:
        raise errors.PluginError(str(error)) from None
    except OSError as error:  # the journal in certbot's work directory
        where = error.filename or "the journal"
        raise errors.PluginError(f"Cannot write {where}: {error.strerror or error}. "
                                 f"Check certbot's --work-dir.") from None


def _challenge_pair(achall: achallenges.AnnotatedChallenge) -> Pair:
    """(validation name, value) of a challenge, on certbot 2.1 (domain) and >= 5.3 (identifier)."""
    identifier = getattr(achall, "identifier", None)
    domain = identifier.value if identifier is not None else achall.domain
    return achall.validation_domain_name(domain), achall.validation(achall.account_key)


def _check_readable(path: str) -> None:
    """Fail with one line when the credentials file exists but cannot be read.

    certbot's own checks report a missing file or a directory; an unreadable file would
    otherwise end in a traceback from the INI parser.
    """
    expanded = os.path.expanduser(path)
    try:
        with open(expanded, "rb"):
            pass
    except (FileNotFoundError, IsADirectoryError):
        return
    except OSError as error:
        raise errors.PluginError(
            f"Cannot read the credentials file {expanded}: {error.strerror}."
        ) from None
