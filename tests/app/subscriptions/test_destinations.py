"""SSRF rules of webhook URLs: every non-global address the issue names, the IPv6 forms that
wrap an IPv4 address, port 0, on create and on PATCH (SQLite and PostgreSQL)."""

from __future__ import annotations

import ipaddress

import pytest
from fastapi.testclient import TestClient

from app.subscriptions.destinations import check_webhook_url, embedded_ipv4, refusal

PUBLIC_URL = "https://93.184.216.34/hooks/hazewarn"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://100.100.100.200/latest/meta-data/", "shared (100.64.0.0/10)"),
        ("http://100.64.0.1/", "shared (100.64.0.0/10)"),
        ("http://[2002:7f00:1::]/", "loopback address 127.0.0.1 wrapped in 6to4"),
        ("http://[2002:a00:1::]/", "private address 10.0.0.1 wrapped in 6to4"),
        ("http://[::ffff:127.0.0.1]/", "loopback address 127.0.0.1 wrapped in IPv4-mapped"),
        ("http://[::ffff:169.254.169.254]/", "link-local address 169.254.169.254 wrapped"),
        ("http://[64:ff9b::7f00:1]/", "loopback address 127.0.0.1 wrapped in NAT64"),
        ("http://[64:ff9b::a9fe:a9fe]/", "link-local address 169.254.169.254 wrapped in NAT64"),
        ("http://[64:ff9b:1::a00:1]/", "private address 10.0.0.1 wrapped in NAT64"),
        ("http://[::7f00:1]/", "loopback address 127.0.0.1 wrapped in IPv4-compatible"),
        # Teredo: server 65.54.227.120, client 127.0.0.1 (stored inverted: 0x80ff:fffe).
        ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "loopback address 127.0.0.1 wrapped"),
        ("http://127.0.0.1:9000/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("https://10.1.2.3/hook", "private"),
        ("https://172.16.0.1/hook", "private"),
        ("https://192.168.0.10/hook", "private"),
        ("https://198.18.0.1/hook", "private"),
        ("http://192.0.2.1/", "private"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://[::]/hook", "unspecified"),
        ("http://[::1]/hook", "loopback"),
        ("http://[fd00::1]/hook", "private"),
        ("http://[fe80::1]/hook", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://[ff02::1]/hook", "multicast"),
        ("https://240.0.0.1/hook", "reserved"),
        ("http://localhost/hook", "loopback"),
    ],
)
def test_every_non_global_destination_is_refused_saying_why(url: str, why: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_webhook_url(url, allow_private=False)
    assert why in str(refused.value) and "public addresses only" in str(refused.value)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "93.184.216.34",
        "2606:4700::1111",
        "2002:808:808::",
        "64:ff9b::808:808",
        "::ffff:8.8.8.8",
    ],
)
def test_global_addresses_pass_including_wrapped_public_ipv4(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None
    host = f"[{address}]" if ":" in address else address
    assert check_webhook_url(f"https://{host}/h", allow_private=False) == f"https://{host}/h"


def test_wrapped_ipv4_forms_are_unwrapped() -> None:
    def unwrap(text: str) -> tuple[str, str] | None:
        found = embedded_ipv4(ipaddress.IPv6Address(text))
        return None if found is None else (found[0], str(found[1]))

    assert unwrap("2002:7f00:1::") == ("6to4", "127.0.0.1")
    assert unwrap("::ffff:10.0.0.1") == ("IPv4-mapped", "10.0.0.1")
    assert unwrap("64:ff9b::c0a8:1") == ("NAT64", "192.168.0.1")
    assert unwrap("2001:0:4136:e378:8000:63bf:3fff:fdd2") == ("Teredo", "192.0.2.45")
    assert unwrap("2606:4700::1111") is None
    assert unwrap("::1") is None  # loopback itself, not IPv4-compatible 0.0.0.1


@pytest.mark.parametrize("allow_private", [False, True])
def test_port_zero_is_refused_even_when_private_addresses_are_allowed(
    allow_private: bool,
) -> None:
    with pytest.raises(ValueError, match="port must be from 1 to 65535, not 0"):
        check_webhook_url("http://93.184.216.34:0/hook", allow_private=allow_private)


BAD_URLS = [
    "http://100.100.100.200/latest/meta-data/",
    "http://[2002:7f00:1::]/",
    "http://93.184.216.34:0/hook",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_create_and_patch_both_refuse(
    client: TestClient, headers: dict[str, dict[str, str]], url: str
) -> None:
    created = client.post("/v1/subscriptions", json={"url": url}, headers=headers["admin"])
    assert created.status_code == 422, created.text
    assert created.headers["content-type"] == "application/problem+json"
    assert created.json()["errors"][0]["field"] == "body.url"

    good = client.post("/v1/subscriptions", json={"url": PUBLIC_URL}, headers=headers["admin"])
    assert good.status_code == 201, good.text
    sub = good.json()["id"]
    patched = client.patch(f"/v1/subscriptions/{sub}", json={"url": url}, headers=headers["admin"])
    assert patched.status_code == 422, patched.text
    assert patched.json()["errors"][0]["field"] == "body.url"
    # The stored URL is unchanged.
    after = client.get(f"/v1/subscriptions/{sub}", headers=headers["admin"]).json()
    assert after["url"] == PUBLIC_URL
