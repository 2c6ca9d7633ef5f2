"""The Hostinger API client against the stand-in API over real loopback HTTP."""

from __future__ import annotations

import logging
import time

import pytest
import requests

from certbot_dns_hostinger import __version__
from certbot_dns_hostinger.hostinger import HostingerClient
from certbot_dns_hostinger.hostinger_http import (
    HostingerError,
    RateLimitedError,
    TokenRejectedError,
    check_api_url,
)
from certbot_dns_hostinger.hostinger_records import relative_name, unquote_txt, zone_candidates
from certbot_dns_hostinger.hostinger_wait import parse_retry_after
from sandbox.accounts import TOKEN
from sandbox.hostinger_api import Fault, HostingerStub, ZoneStore


class Sleeps(list[float]):
    """Records requested delays instead of sleeping, so retry tests run in milliseconds."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(api: HostingerStub, sleeps: Sleeps) -> HostingerClient:
    return HostingerClient(TOKEN, api.url, timeout=(2.0, 2.0), sleep=sleeps)


# -- pure helpers -----------------------------------------------------------------------------


def test_zone_candidates_longest_first_without_tld_or_underscore_labels() -> None:
    assert zone_candidates("_acme-challenge.mail.news.example.com") == [
        "mail.news.example.com", "news.example.com", "example.com"]
    assert zone_candidates("Mail.Example.CO.UK.") == ["mail.example.co.uk", "example.co.uk",
                                                      "co.uk"]


def test_relative_name_compares_labels_not_strings() -> None:
    assert relative_name("_acme-challenge.example.com", "example.com") == "_acme-challenge"
    assert relative_name("example.com", "example.com") == "@"
    with pytest.raises(ValueError, match="not inside"):
        relative_name("notexample.com", "example.com")


def test_unquote_removes_exactly_one_pair() -> None:
    assert unquote_txt('"abc"') == "abc"
    assert unquote_txt('""abc""') == '"abc"'
    assert unquote_txt("abc") == "abc"
    assert unquote_txt('"') == '"'


@pytest.mark.parametrize("url", [
    "http://example.com", "ftp://127.0.0.1", "not a url", "https://", "https://user:pw@host",
    "https://host/?q=1", "https://host:99999",
])
def test_bad_api_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        check_api_url(url)


@pytest.mark.parametrize("url", [
    "https://developers.hostinger.com/", "http://127.0.0.1:8080", "http://[::1]:80",
    "http://localhost:1",
])
def test_good_api_urls_are_accepted(url: str) -> None:
    assert check_api_url(url) == url.rstrip("/")


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("7") == 7.0
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    value = parse_retry_after(future)
    assert value is not None and 25 < value <= 31
    assert parse_retry_after("soon") is None


# -- zone discovery ---------------------------------------------------------------------------


@pytest.mark.parametrize("fqdn, zone", [
    ("_acme-challenge.mail.example.com", "example.com"),
    ("_acme-challenge.mail.news.example.com", "example.com"),
    ("_acme-challenge.mail.example.co.uk", "example.co.uk"),
    ("_acme-challenge.a.b.example.com", "b.example.com"),
    ("_acme-challenge.b.example.com", "b.example.com"),
    ("_acme-challenge.example.com", "example.com"),
])
@pytest.mark.parametrize("not_zone", ["mixed", "empty", "404", "422"])
def test_find_zone_takes_longest_suffix_in_account(
    store: ZoneStore, sleeps: Sleeps, fqdn: str, zone: str, not_zone: str
) -> None:
    with HostingerStub(store, [TOKEN], not_zone=not_zone) as stub:
        client = HostingerClient(TOKEN, stub.url, sleep=sleeps)
        assert client.find_zone(fqdn) == zone
        assert client.find_zone(fqdn) == zone
        probes = [c.split()[1] for c in stub.calls_summary()]
    assert probes == [c for c in zone_candidates(fqdn) if len(c) >= len(zone)]
    assert not sleeps


def test_find_zone_outside_account(client: HostingerClient, api: HostingerStub) -> None:
    assert client.find_zone("_acme-challenge.mail.example.org") is None
    assert api.calls_summary() == ["GET mail.example.org", "GET example.org"]


def test_requests_carry_auth_json_and_user_agent(client: HostingerClient,
                                                 api: HostingerStub) -> None:
    client.add_txt_values("example.com", {"_acme-challenge": ["v1"]}, 60)
    put = api.calls[-1]
    assert put.headers["Authorization"] == f"Bearer {TOKEN}"
    assert put.headers["Accept"] == "application/json"
    assert put.headers["Content-Type"] == "application/json"
    assert put.headers["User-Agent"] == f"certbot-dns-hostinger/{__version__}"


# -- add and remove ---------------------------------------------------------------------------


def test_add_sends_one_append_for_all_names(client: HostingerClient, api: HostingerStub,
                                            store: ZoneStore) -> None:
    wanted = {"_acme-challenge.mail": ["m1"], "_acme-challenge": ["a1", "a2"]}
    client.add_txt_values("example.com", wanted, 60)
    assert api.calls_summary() == ["GET example.com", "PUT example.com"]
    assert api.calls[-1].body == {"overwrite": False, "zone": [
        {"name": "_acme-challenge", "type": "TXT", "ttl": 60,
         "records": [{"content": "a1"}, {"content": "a2"}]},
        {"name": "_acme-challenge.mail", "type": "TXT", "ttl": 60,
         "records": [{"content": "m1"}]},
    ]}
    assert sorted(store.txt("example.com", "_acme-challenge")) == ["a1", "a2"]


def test_add_reuses_discovery_read(client: HostingerClient, api: HostingerStub) -> None:
    zone = client.find_zone("_acme-challenge.mail.example.com")
    assert zone == "example.com"
    client.add_txt_values(zone, {"_acme-challenge.mail": ["v"]}, 60)
    assert api.calls_summary() == ["GET mail.example.com", "GET example.com", "PUT example.com"]


def test_add_skips_values_already_present_quoted_or_bare(
    client: HostingerClient, api: HostingerStub, store: ZoneStore
) -> None:
    store.add_zone("example.com", [{"name": "_acme-challenge", "type": "TXT", "ttl": 300,
                                    "records": [{"content": '"old"'}, {"content": "other"}]}])
    client.add_txt_values("example.com", {"_acme-challenge": ["old", "other"]}, 60)
    assert api.calls_summary() == ["GET example.com"]


def test_add_next_to_others_value_keeps_its_ttl(client: HostingerClient, api: HostingerStub,
                                                store: ZoneStore) -> None:
    store.add_zone("example.com", [{"name": "_acme-challenge", "type": "TXT", "ttl": 300,
                                    "records": [{"content": "someone-else"}]}])
    before = store.dump("example.com")
    client.add_txt_values("example.com", {"_acme-challenge": ["ours"]}, 60)
    assert api.calls[-1].body["zone"][0]["ttl"] == 300
    assert store.txt("example.com", "_acme-challenge") == ["someone-else", "ours"]
    client.remove_txt_values("example.com", {"_acme-challenge": ["ours"]})
    assert store.dump("example.com") == before
    assert api.calls_summary()[-2:] == ["GET example.com", "PUT example.com"]
    assert api.calls[-1].body == {"overwrite": True, "zone": [  # bare, TTL as read
        {"name": "_acme-challenge", "type": "TXT", "ttl": 300,
         "records": [{"content": "someone-else"}]}]}


@pytest.mark.parametrize("quoting", ["keep", "escape"])
def test_others_value_survives_byte_for_byte_under_either_quoting(
    client: HostingerClient, api: HostingerStub, store: ZoneStore, quoting: str
) -> None:
    store.add_zone("example.com", [{"name": "_acme-challenge", "type": "TXT", "ttl": 300,
                                    "records": [{"content": "someone-elses-value"}]}])
    store.quoting = quoting
    before = store.dump("example.com")
    client.add_txt_values("example.com", {"_acme-challenge": ["ours"]}, 60)
    assert api.calls[-1].body["zone"][0]["records"] == [{"content": "ours"}]  # never others'
    client.remove_txt_values("example.com", {"_acme-challenge": ["ours"]})
    assert api.calls_summary()[-1] == "PUT example.com"
    assert store.dump("example.com") == before


def test_escaping_stand_in_grows_quotes_on_a_quoted_write_back(
    api: HostingerStub, store: ZoneStore
) -> None:
    """What the test above would catch: writing back the quoted form as read."""
    store.quoting = "escape"
    requests.put(f"{api.url}/api/dns/v1/zones/example.com", timeout=5,
                 headers={"Authorization": f"Bearer {TOKEN}"},
                 json={"overwrite": True, "zone": [{"name": "x", "type": "TXT", "ttl": 60,
                                                    "records": [{"content": '"v"'}]}]})
    assert store.latest()["example.com"][("x", "TXT")]["records"] == ['"\\"v\\""']


def test_rrset_without_ttl_gets_no_ttl_in_any_body(client: HostingerClient, api: HostingerStub,
                                                   store: ZoneStore) -> None:
    store.add_zone("example.com", [{"name": "_acme-challenge", "type": "TXT", "ttl": None,
                                    "records": [{"content": "someone-else"}]}])
    before = store.dump("example.com")
    assert '"ttl"' not in before
    client.add_txt_values("example.com", {"_acme-challenge": ["ours"]}, 60)
    assert api.calls[-1].body["zone"] == [{"name": "_acme-challenge", "type": "TXT",
                                           "records": [{"content": "ours"}]}]
    client.remove_txt_values("example.com", {"_acme-challenge": ["ours"]})
    assert api.calls[-1].body["zone"] == [{"name": "_acme-challenge", "type": "TXT",
                                           "records": [{"content": "someone-else"}]}]
    assert store.dump("example.com") == before


def test_stand_in_refuses_ttl_zero(api: HostingerStub) -> None:
    """So a client that sent 0 for a missing TTL would fail the test above."""
    answer = requests.put(f"{api.url}/api/dns/v1/zones/example.com", timeout=5,
                          headers={"Authorization": f"Bearer {TOKEN}"},
                          json={"overwrite": True, "zone": [{"name": "x", "type": "TXT",
                                                             "ttl": 0,
                                                             "records": [{"content": "v"}]}]})
    assert answer.status_code == 422


def test_disabled_record_blocks_the_write_back(client: HostingerClient, api: HostingerStub,
                                               store: ZoneStore) -> None:
    store.add_zone("example.com", [{"name": "_acme-challenge", "type": "TXT", "ttl": 300,
                                    "records": [{"content": "paused", "is_disabled": True},
                                                {"content": "ours"}]}])
    before = store.dump("example.com")
    blocked = client.remove_txt_values("example.com", {"_acme-challenge": ["ours"]})
    assert blocked == {"_acme-challenge": "its record set also holds a disabled record, which "
                                          "the API cannot write back"}
    assert api.calls_summary() == ["GET example.com"]
    assert store.dump("example.com") == before


def test_remove_deletes_emptied_rrsets_in_one_call(client: HostingerClient, api: HostingerStub,
                                                   store: ZoneStore) -> None:
    before = store.dump("example.com")
    wanted = {"_acme-challenge": ["a"], "_acme-challenge.mail": ["b"],
              "_acme-challenge.mail.news": ["c"]}
    client.add_txt_values("example.com", wanted, 60)
    api.reset_calls()
    client.remove_txt_values("example.com", wanted)
    assert api.calls_summary() == ["GET example.com", "DELETE example.com"]
    assert api.calls[-1].body == {"filters": [
        {"name": "_acme-challenge", "type": "TXT"},
        {"name": "_acme-challenge.mail", "type": "TXT"},
        {"name": "_acme-challenge.mail.news", "type": "TXT"}]}
    assert store.dump("example.com") == before


def test_remove_twice_and_remove_missing_are_no_ops(client: HostingerClient, api: HostingerStub,
                                                    store: ZoneStore) -> None:
    before = store.dump("example.com")
    client.remove_txt_values("example.com", {"_acme-challenge": ["never-written"],
                                             "@": ["v=spf1"]})
    client.remove_txt_values("example.com", {"_acme-challenge": ["never-written"]})
    assert api.calls_summary() == ["GET example.com", "GET example.com"]
    assert store.dump("example.com") == before


def test_duplicate_append_after_lost_answer_is_success(client: HostingerClient, api: HostingerStub,
                                                       store: ZoneStore, sleeps: Sleeps) -> None:
    api.inject(Fault(method="PUT", drop=True, apply_first=True))
    client.add_txt_values("example.com", {"_acme-challenge": ["v1"]}, 60)
    assert api.calls_summary() == ["GET example.com", "PUT example.com", "PUT example.com",
                                   "GET example.com"]
    assert api.calls[2].status == 422
    assert store.txt("example.com", "_acme-challenge") == ["v1"]
    assert len(sleeps) == 1


def test_stale_read_then_4008_rechecks_until_visible(api: HostingerStub, store: ZoneStore) -> None:
    store.read_lag = 1.5
    writer = HostingerClient(TOKEN, api.url)
    writer.add_txt_values("example.com", {"_acme-challenge": ["v1"]}, 60)
    client = HostingerClient(TOKEN, api.url)  # a fresh run whose read does not see v1 yet
    client.add_txt_values("example.com", {"_acme-challenge": ["v1"]}, 60)
    methods = [c.split()[0] for c in api.calls_summary()[2:]]
    assert methods[:3] == ["GET", "PUT", "GET"]
    assert store.txt("example.com", "_acme-challenge") == ["v1"]


def test_genuine_conflict_with_cname_is_explained(client: HostingerClient, api: HostingerStub,
                                                  store: ZoneStore, sleeps: Sleeps) -> None:
    store.add_zone("example.com", [{"name": "_acme-challenge.mail", "type": "CNAME", "ttl": 300,
                                    "records": [{"content": "elsewhere.example.net."}]}])
    before = store.dump("example.com")
    with pytest.raises(HostingerError) as caught:
        client.add_txt_values("example.com", {"_acme-challenge.mail": ["v"]}, 60)
    message = str(caught.value)
    assert "DNS:4008" in message and "has a CNAME record" in message
    assert "correlation id" in message and "\n" not in message
    assert api.calls_summary() == ["GET example.com", "PUT example.com"] + ["GET example.com"] * 3
    assert store.dump("example.com") == before
    assert sleeps == [2.0, 2.0]


def test_conflict_below_delegated_sub_zone_is_explained(client: HostingerClient,
                                                        store: ZoneStore) -> None:
    with pytest.raises(HostingerError, match="delegated to its own zone"):
        client.add_txt_values("example.com", {"_acme-challenge.a.b": ["v"]}, 60)


# -- errors and retries -----------------------------------------------------------------------


def test_bad_token_says_invalid_or_expired(api: HostingerStub, sleeps: Sleeps) -> None:
    client = HostingerClient("wrong-token", api.url, sleep=sleeps)
    with pytest.raises(TokenRejectedError) as caught:
        client.find_zone("_acme-challenge.mail.example.com")
    assert "HTTP 401" in str(caught.value)
    assert "invalid or has expired" in str(caught.value)
    assert len(api.calls) == 1 and not sleeps


def test_field_errors_and_correlation_id_are_reported(client: HostingerClient,
                                                      api: HostingerStub) -> None:
    api.inject(Fault(method="PUT", status=422, body=(
        '{"message": "Bad input", "errors": {"zone.0.ttl": ["too small"], '
        '"zone.0.name": ["bad", "worse"]}, "correlation_id": "c0ffee"}')))
    with pytest.raises(HostingerError) as caught:
        client.add_txt_values("example.com", {"_acme-challenge": ["v"]}, 60)
    assert str(caught.value) == (
        "Hostinger API error while adding TXT records for zone example.com: HTTP 422: "
        "Bad input | zone.0.name: bad, worse; zone.0.ttl: too small | correlation id c0ffee")


def test_error_key_is_read_when_message_is_missing(client: HostingerClient,
                                                   api: HostingerStub) -> None:
    api.inject(Fault(method="GET", status=403, body='{"error": "Forbidden zone"}'))
    with pytest.raises(HostingerError, match=r"HTTP 403: Forbidden zone\. The API token may not"):
        client.zone_records("example.com")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(client: HostingerClient, api: HostingerStub,
                                        sleeps: Sleeps, status: int) -> None:
    api.inject(Fault(method="GET", status=status, times=2, content_type="text/html",
                     body="<html><body><h1>Bad gateway</h1></body></html>"))
    assert client.zone_records("example.com")
    assert len(api.calls) == 3 and len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0


def test_retry_after_up_to_a_minute_is_honoured(client: HostingerClient, api: HostingerStub,
                                                sleeps: Sleeps) -> None:
    api.inject(Fault(method="GET", status=429, body="Too Many Attempts.",
                     headers={"Retry-After": "3"}),
               Fault(method="GET", status=429, headers={"Retry-After": "60"}))
    assert client.zone_records("example.com")
    assert sleeps == [3.0, 60.0]


@pytest.mark.parametrize("header", ["3600", "HTTP-DATE"])
def test_long_retry_after_stops_at_once_and_for_the_whole_process(
    client: HostingerClient, api: HostingerStub, sleeps: Sleeps, header: str
) -> None:
    if header == "HTTP-DATE":
        header = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3600))
    api.inject(Fault(method="GET", status=429, times=10, body="Too Many Attempts.",
                     headers={"Retry-After": header}))
    started = time.time()
    with pytest.raises(RateLimitedError) as caught:
        client.zone_records("example.com")
    message = str(caught.value)
    assert message.startswith("Hostinger rate-limited the API token while reading records for "
                              "zone example.com and asked to wait ")
    assert "59 min" in message or "60 min" in message
    until = time.strftime("%Y-%m-%d %H:%M", time.gmtime(started + 3600))
    assert f"(until {until}" in message and " UTC)" in message
    assert caught.value.until >= started + 3590
    assert len(api.calls) == 1 and not sleeps
    other = HostingerClient(TOKEN, api.url, sleep=sleeps)  # e.g. the next certificate
    with pytest.raises(RateLimitedError, match="so nothing more is sent"):
        other.remove_txt_values("example.com", {"_acme-challenge": ["v"]})
    assert len(api.calls) == 1


def test_persistent_html_errors_give_one_line_with_excerpt(client: HostingerClient,
                                                           api: HostingerStub,
                                                           sleeps: Sleeps) -> None:
    api.inject(Fault(method="GET", status=502, times=10, content_type="text/html",
                     body="<html><head><title>502</title></head><body>Bad Gateway</body></html>"))
    with pytest.raises(HostingerError) as caught:
        client.zone_records("example.com")
    assert str(caught.value) == ("Hostinger API error while reading records for zone example.com: "
                                 "HTTP 502: non-JSON answer: 502 Bad Gateway")
    assert len(api.calls) == 4 and len(sleeps) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
def test_client_errors_are_not_retried(client: HostingerClient, api: HostingerStub,
                                       sleeps: Sleeps, status: int) -> None:
    api.inject(Fault(method="PUT", status=status))
    with pytest.raises(HostingerError, match=f"HTTP {status}"):
        client.add_txt_values("example.com", {"_acme-challenge": ["v"]}, 60)
    assert api.calls_summary() == ["GET example.com", "PUT example.com"] and not sleeps


def test_dropped_connections_are_retried(client: HostingerClient, api: HostingerStub,
                                         sleeps: Sleeps) -> None:
    api.inject(Fault(method="GET", drop=True, times=2))
    assert client.zone_records("example.com")
    assert len(api.calls) == 3 and len(sleeps) == 2


def test_read_timeout_is_retried_then_reported(api: HostingerStub, sleeps: Sleeps) -> None:
    client = HostingerClient(TOKEN, api.url, timeout=(2.0, 0.3), max_attempts=2, sleep=sleeps)
    api.inject(Fault(method="GET", delay=1.0, times=2))
    with pytest.raises(HostingerError, match=r"Network error .* after 2 attempts: ReadTimeout"):
        client.zone_records("example.com")
    assert len(sleeps) == 1


def test_connection_refused_is_reported(sleeps: Sleeps) -> None:
    client = HostingerClient(TOKEN, "http://127.0.0.1:9", max_attempts=2, sleep=sleeps)
    with pytest.raises(HostingerError, match="Network error"):
        client.zone_records("example.com")


def test_echoed_token_is_redacted(client: HostingerClient, api: HostingerStub) -> None:
    api.inject(Fault(method="GET", status=400, echo_token=True))
    with pytest.raises(HostingerError) as caught:
        client.zone_records("example.com")
    assert TOKEN not in str(caught.value)
    assert "<redacted>" in str(caught.value)


def test_unexpected_json_shape_is_an_error_not_a_crash(client: HostingerClient,
                                                       api: HostingerStub) -> None:
    api.inject(Fault(method="GET", status=200, body='{"data": []}'))
    with pytest.raises(HostingerError, match="Unexpected answer"):
        client.zone_records("example.com")


def test_extra_fields_and_odd_entries_are_ignored(client: HostingerClient,
                                                  api: HostingerStub) -> None:
    api.inject(Fault(method="GET", status=200, body=(
        '[{"name": "@", "type": "a", "ttl": 60, "records": [{"content": "1.2.3.4", "x": 1}],'
        ' "new_field": true}, "junk", {"name": 5}]')))
    rrsets = client.zone_records("example.com")
    assert [(r.name, r.type, r.contents) for r in rrsets] == [("@", "A", ("1.2.3.4",))]


@pytest.mark.parametrize("probing", [False, True], ids=["read", "probe"])
def test_a_2xx_answer_that_is_not_a_list_never_shows_the_token(
        client: HostingerClient, api: HostingerStub, caplog: pytest.LogCaptureFixture,
        probing: bool) -> None:
    caplog.set_level(logging.DEBUG)
    # a JSON object (not the rrset array) echoing the Authorization header, with status 200
    api.inject(Fault(method="GET", status=200, echo_token=True))
    with pytest.raises(HostingerError) as caught:
        if probing:
            client.is_zone("example.com")
        else:
            client.zone_records("example.com")
    assert str(caught.value).startswith("Unexpected answer from Hostinger's API while ")
    assert "Bearer <redacted>" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert api.calls and caplog.records
    assert not [r for r in caplog.records if TOKEN in r.getMessage()]
