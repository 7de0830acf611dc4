"""The SSRF rules in isolation: which addresses are public, and how an attempt is pinned."""

import ipaddress

import httpx
import pytest

from callbacks.targets import UnsafeTarget, check_url, is_public, pinned_target, resolve_target


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.0.0.1", "172.31.255.255", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",  # noqa: S104 - refused targets, nothing binds
        "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
        "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1",
    ],
)  # fmt: skip
def test_non_public_addresses(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses(address):
    assert is_public(ipaddress.ip_address(address))


# IPv6 spellings of private IPv4 addresses (issue 18, item 10): each was accepted in production.
IPV6_SPELLINGS_OF_PRIVATE_IPV4 = [
    "::127.0.0.1",  # IPv4-compatible
    "::7f00:1",  # the same, in hexadecimal
    "::ffff:0:7f00:1",  # IPv4-translated (SIIT)
    "64:ff9b::7f00:1",  # NAT64, well-known prefix
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::7f00:1",  # NAT64, local-use prefix
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "fec0::1",  # site-local
]


@pytest.mark.parametrize("address", IPV6_SPELLINGS_OF_PRIVATE_IPV4)
def test_ipv6_spellings_of_private_ipv4_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", IPV6_SPELLINGS_OF_PRIVATE_IPV4)
def test_ipv6_spellings_of_private_ipv4_are_refused_when_an_attempt_resolves(settings, address):
    settings.CALLBACK_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(UnsafeTarget, match="non-public"):
        resolve_target(f"https://[{address}]/hooks")


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "::ffff:808:808", "2002:808:808::1"])
def test_ipv6_spellings_of_public_ipv4_stay_public(address):
    """The embedded address decides: 8.8.8.8 by NAT64, mapped or 6to4 is public."""
    assert is_public(ipaddress.ip_address(address))


def test_a_pinned_https_attempt_keeps_the_host_name_for_tls_and_host():
    target = pinned_target(httpx.URL("https://shop.example:8443/hooks?x=1"), "93.184.216.34")
    assert target.url == "https://93.184.216.34:8443/hooks?x=1"
    assert target.headers == {"Host": "shop.example:8443", "Connection": "close"}
    assert target.extensions == {"sni_hostname": "shop.example"}


def test_a_pinned_ipv6_attempt_brackets_the_address():
    target = pinned_target(httpx.URL("http://shop.example/hooks"), "2606:2800:220:1:248:1893:25c8:1946")
    assert target.url == "http://[2606:2800:220:1:248:1893:25c8:1946]/hooks"
    assert target.headers["Host"] == "shop.example"
    assert target.extensions == {}


def test_with_the_check_off_an_attempt_resolves_and_refuses_loopback(settings):
    settings.CALLBACK_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(UnsafeTarget, match="non-public"):
        resolve_target("http://localhost:8301/")


def test_with_the_check_on_a_public_literal_is_pinned_to_itself(settings):
    settings.CALLBACK_ALLOW_PRIVATE_TARGETS = False
    target = resolve_target("https://93.184.216.34/hooks")
    assert target.url == "https://93.184.216.34/hooks"
    assert target.extensions == {"sni_hostname": "93.184.216.34"}


def test_in_development_the_url_is_used_as_given():
    target = resolve_target("http://localhost:8301/hooks")
    assert (target.url, target.headers, target.extensions) == ("http://localhost:8301/hooks", {}, {})


def test_urls_are_normalised_as_they_will_be_called():
    assert check_url("HTTPS://Shop.Example/Hooks") == "https://shop.example/Hooks"
