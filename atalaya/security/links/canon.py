"""URL canonicalisation after Google Safe Browsing's rules (v4 "Canonicalization").

Strip whitespace and control characters, drop the fragment, unescape repeatedly,
normalise the host (dots, case, IPv4 in decimal/octal/hex), resolve ``.``/``..`` and
``//`` in the path, then escape what is ≤ 0x20, ≥ 0x7f, ``#`` and ``%``. Bounded work:
a URL longer than ``MAX_URL`` is refused rather than processed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import unquote

MAX_URL = 4096
_CTRL = re.compile(r"[\t\r\n]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]{0,15}):")
_DOTS = re.compile(r"\.{2,}")
_SLASHES = re.compile(r"/{2,}")
_HOST_OK = re.compile(r"^[^\s/\\?#@:%\x00-\x1f\x7f<>\"'`{}|^]+$")


class BadURL(ValueError):
    """The text cannot be read as a web URL."""


class Parts(NamedTuple):
    """A canonical URL and the pieces the rules need."""

    canonical: str
    scheme: str
    host: str  # lower-case, unicode where the URL used punycode or IDN (for script checks)
    ascii_host: str  # punycode form
    userinfo: bool
    is_ip: bool
    port: str
    path: str  # canonical path + query (escaped)


def _unescape(s: str) -> str:
    for _ in range(8):  # "repeatedly" — bounded so %25252525… cannot loop for long
        if "%" not in s:
            return s
        t = unquote(s, errors="surrogateescape")
        if t == s:
            return s
        s = t
    return s


def _escape(s: str) -> str:
    if s.isascii() and s.isprintable() and " " not in s and "#" not in s and "%" not in s:
        return s
    out = []
    for ch in s:
        o = ord(ch)
        if o <= 0x20 or o >= 0x7F or ch in "#%":
            try:
                data = ch.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                data = b"?"
            out.append("".join(f"%{b:02X}" for b in data))
        else:
            out.append(ch)
    return "".join(out)


def _ipv4(host: str) -> str | None:
    """Dotted quad for hosts like 3279880203, 0x7f.1, 0300.0250.1.1; None if not an IP."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    nums = []
    for p in parts:
        try:
            if p[:2] in ("0x", "0X"):
                nums.append(int(p[2:] or "0", 16))
            elif len(p) > 1 and p[0] == "0":
                nums.append(int(p, 8))
            elif p.isdigit():
                nums.append(int(p))
            else:
                return None
        except ValueError:
            return None
    value = 0
    for n in nums[:-1]:
        if n > 255:
            return None
        value = value * 256 + n
    last_bits = 8 * (5 - len(nums))
    if nums[-1] >= 1 << last_bits:
        return None
    value = (value << last_bits) | nums[-1]
    return str(ipaddress.IPv4Address(value & 0xFFFFFFFF))


def _path(path: str) -> str:
    if not path:
        return "/"
    if "/." in path:
        out: list[str] = []
        for seg in path.split("/"):
            if seg == "..":
                if len(out) > 1:
                    out.pop()
            elif seg != ".":
                out.append(seg)
        path = "/".join(out)
        if not path.startswith("/"):
            path = "/" + path
    if "//" in path:
        path = _SLASHES.sub("/", path)
    return path


@lru_cache(maxsize=65536)
def _authority(authority: str) -> tuple[str, str, bool, str, str, str, bool]:
    """Host facts of an authority (cached: mails and batches repeat hosts)."""
    userinfo = "@" in authority
    if userinfo:
        authority = authority.rsplit("@", 1)[1]
    port = ""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise BadURL("host")
        host = authority[1:end].lower()
        try:
            host = str(ipaddress.IPv6Address(host))
        except ValueError as exc:
            raise BadURL("host") from exc
        port = authority[end + 2 :] if authority[end + 1 : end + 2] == ":" else ""
        is_ip = True
        ascii_host = host
        canon_host = f"[{host}]"
    else:
        if ":" in authority:
            authority, port = authority.rsplit(":", 1)
        host = _DOTS.sub(".", authority.strip(".").lower())
        if not host or len(host) > 253 or not _HOST_OK.match(host):
            raise BadURL("host")
        ip = _ipv4(host)
        is_ip = ip is not None
        if ip:
            host = ascii_host = ip
        elif host.isascii():
            ascii_host = host
            if "xn--" in host:
                # invalid punycode: keep the ASCII form; the rules flag it
                with contextlib.suppress(UnicodeError, ValueError):
                    host = host.encode("ascii").decode("idna").lower()
        else:
            try:
                ascii_host = host.encode("idna").decode("ascii")
            except (UnicodeError, ValueError):
                ascii_host = _escape(host)
        canon_host = ascii_host
    if port and not (port.isdigit() and int(port) < 65536):
        raise BadURL("port")
    port_part = "" if port in ("80", "443", "") else ":" + port
    return host, ascii_host, is_ip, canon_host, port, port_part, userinfo


def canonicalise(url: str) -> Parts:
    """The canonical form of ``url`` or :class:`BadURL` naming what is wrong."""
    if not isinstance(url, str):
        raise BadURL("not text")
    url = url.strip()
    if len(url) > MAX_URL:
        raise BadURL("too long")
    if "\t" in url or "\r" in url or "\n" in url:
        url = _CTRL.sub("", url)
    if "\x00" in url:
        raise BadURL("NUL")
    url = url.replace("\\", "/")
    hash_at = url.find("#")
    if hash_at >= 0:
        url = url[:hash_at]
    url = _unescape(url)
    m = _SCHEME.match(url)
    if m and (url[m.end() : m.end() + 2] == "//" or m.group(1).lower() in ("http", "https")):
        scheme = m.group(1).lower()
        rest = url[m.end() :].lstrip("/")
    else:
        scheme = "http"
        rest = url.lstrip("/")
    if scheme not in ("http", "https", "ftp"):
        raise BadURL("scheme")
    cut = len(rest)
    for sep in "/?":
        i = rest.find(sep)
        if 0 <= i < cut:
            cut = i
    authority, tail = rest[:cut], rest[cut:]
    host, ascii_host, is_ip, canon_host, port, port_part, userinfo = _authority(authority)
    q = tail.find("?")
    path, query = (tail[:q], tail[q:]) if q >= 0 else (tail, "")
    full_path = _escape(_path(path) + query)
    canonical = f"{scheme}://{canon_host}{port_part}{full_path}"
    return Parts(canonical, scheme, host, ascii_host, userinfo, is_ip, port, full_path)


def model_text(parts: Parts) -> str:
    """What the n-gram model reads: no scheme, no leading ``www.``, no port (the data
    sets differ on those by how they were collected, not by what is phishing)."""
    host = parts.ascii_host
    if host.startswith("www."):
        host = host[4:]
    return host + parts.path
