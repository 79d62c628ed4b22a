"""Network scan: which hosts answer on the local networks, and which TCP ports they open.

A TCP connect scan (no raw packets, so no privileges), run by one thread over
non-blocking sockets and ``selectors`` (epoll on Linux): thousands of connects are in
flight at once, each with its own deadline. A connect that completes is an open port;
one refused (a RST) proves the host is up with the port closed; one that times out is
filtered. A host is reported when it opened a port, refused one, or appears in the
kernel's neighbour (ARP) table, which also gives its MAC. For a handful of services
that speak first (FTP, SSH, SMTP, POP, IMAP, VNC, MySQL…) the first line they send
within a short wait is kept as the banner; nothing is ever sent to a service.

The result is the scan JSON of PROTOCOL.md. Targets are IPs, CIDR networks, ranges
(``192.168.1.10-20``) and host names; more than 65,536 addresses is refused.
"""

from __future__ import annotations

import _socket
import errno
import ipaddress
import os
import resource
import select
import selectors
import socket
import struct
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_ADDRESSES = 65_536
DEFAULT_TIMEOUT_MS = 1000
BANNER_WAIT_S = 0.3
BANNER_BYTES = 200

# nmap's 100 most common TCP ports (nmap-services frequencies, `nmap -F`).
TOP_100 = [
    7,
    9,
    13,
    21,
    22,
    23,
    25,
    26,
    37,
    53,
    79,
    80,
    81,
    88,
    106,
    110,
    111,
    113,
    119,
    135,
    139,
    143,
    144,
    179,
    199,
    389,
    427,
    443,
    444,
    445,
    465,
    513,
    514,
    515,
    543,
    544,
    548,
    554,
    587,
    631,
    646,
    873,
    990,
    993,
    995,
    1025,
    1026,
    1027,
    1028,
    1029,
    1110,
    1433,
    1720,
    1723,
    1755,
    1900,
    2000,
    2001,
    2049,
    2121,
    2717,
    3000,
    3128,
    3306,
    3389,
    3986,
    4899,
    5000,
    5009,
    5051,
    5060,
    5101,
    5190,
    5357,
    5432,
    5631,
    5666,
    5800,
    5900,
    6000,
    6001,
    6646,
    7070,
    8000,
    8008,
    8009,
    8080,
    8081,
    8443,
    8888,
    9100,
    9999,
    10000,
    32768,
    49152,
    49153,
    49154,
    49155,
    49156,
    49157,
]
# What the security findings care about beyond the top 100: VNC displays, databases,
# UPnP/SSDP helpers, router and NAS admin pages.
RISKY = [
    5901,
    5902,
    5903,
    1521,
    6379,
    27017,
    9200,
    11211,
    5984,
    2375,
    8291,
    7547,
    1883,
    8880,
    49000,
    50000,
]
DEFAULT_PORTS = sorted(set(TOP_100) | set(RISKY))
# Services that greet first: their first bytes are the banner.
BANNER_PORTS = frozenset({21, 22, 23, 25, 110, 143, 587, 3306, 5900, 5901, 5902, 5903})


class ScanError(ValueError):
    """A target or port list that cannot be scanned; the message says which and why."""


def parse_ports(spec: str | Sequence[int] | None) -> list[int]:
    """``"22,80,8000-8010"`` or a list of ints; empty or None is the default list."""
    if spec is None or spec == "" or spec == []:
        return list(DEFAULT_PORTS)
    if not isinstance(spec, str):
        values = list(spec)
        if not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in values
        ):
            raise ScanError("ports must be integers from 1 to 65535")
        return sorted(set(values))
    ports: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            a, b = int(low), int(high if dash else low)
        except ValueError:
            raise ScanError(f"not a port or port range: {part[:30]!r}") from None
        if not 0 < a <= b < 65536:
            raise ScanError(f"ports must be from 1 to 65535: {part[:30]!r}")
        ports.update(range(a, b + 1))
    return sorted(ports)


def _range(spec: str) -> list[ipaddress.IPv4Address] | None:
    start, sep, end = spec.partition("-")
    if not sep:
        return None
    try:
        first = ipaddress.IPv4Address(start)
    except ValueError:
        return None
    if "." in end:
        last = ipaddress.IPv4Address(end)
    else:
        last = ipaddress.IPv4Address(int(first) & ~0xFF | int(end))
    if int(last) < int(first):
        raise ScanError(f"range ends before it starts: {spec[:40]!r}")
    if int(last) - int(first) >= MAX_ADDRESSES:
        raise ScanError(f"more than {MAX_ADDRESSES} addresses: {spec[:40]!r}")
    return [ipaddress.IPv4Address(n) for n in range(int(first), int(last) + 1)]


def parse_targets(specs: Iterable[str]) -> list[str]:
    """Every address the targets name, in order and once; a clear error for bad ones."""
    seen: dict[str, None] = {}
    for raw in specs:
        spec = str(raw).strip()
        if not spec:
            continue
        try:
            found: list[Any] | None = _range(spec)
            if found is None and "/" in spec:
                net = ipaddress.ip_network(spec, strict=False)
                if net.num_addresses > MAX_ADDRESSES:
                    raise ScanError(f"more than {MAX_ADDRESSES} addresses: {spec[:40]!r}")
                found = list(net.hosts()) if net.num_addresses > 2 else list(net)
            if found is None:
                found = [ipaddress.ip_address(spec)]
        except ScanError:
            raise
        except ValueError:
            try:
                infos = socket.getaddrinfo(spec, None, socket.AF_INET, socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                raise ScanError(
                    f"not an address, network, range or known host: {spec[:60]!r}"
                ) from None
            found = [ipaddress.ip_address(info[4][0]) for info in infos]
        for address in found:
            seen[str(address)] = None
        if len(seen) > MAX_ADDRESSES:
            raise ScanError(f"more than {MAX_ADDRESSES} addresses in all")
    return list(seen)


def is_local_range(address: str) -> bool:
    """What a server-requested scan may touch: private, link-local and loopback only."""
    ip = ipaddress.ip_address(address)
    return ip.is_private or ip.is_link_local or ip.is_loopback


def local_networks(limit_prefix: int = 22) -> list[str]:
    """The IPv4 networks of this machine's interfaces (loopback excepted), each cut to
    at most a /``limit_prefix`` around the address so a /8 office VPN stays a scan."""
    import psutil

    nets: dict[str, None] = {}
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family != socket.AF_INET or not a.netmask or a.address.startswith("127."):
                continue
            net = ipaddress.IPv4Network(f"{a.address}/{a.netmask}", strict=False)
            if net.prefixlen < limit_prefix:
                net = ipaddress.IPv4Network(f"{a.address}/{limit_prefix}", strict=False)
            nets[str(net)] = None
    return list(nets)


def neighbours() -> dict[str, str]:
    """IP → MAC from the kernel's ARP table (``/proc/net/arp``); {} where it is absent."""
    table: dict[str, str] = {}
    try:
        with open("/proc/net/arp", encoding="ascii", errors="replace") as handle:
            next(handle, None)
            for line in handle:
                parts = line.split()
                if len(parts) >= 4 and parts[3] != "00:00:00:00:00:00" and parts[2] != "0x0":
                    table[parts[0]] = parts[3].lower()
    except OSError:
        pass
    return table


def _raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


class _Pinger:
    """ICMP echo over a raw socket, which needs root: without it, discovery is ARP and
    TCP only (``open`` answers None). Replies are matched by our identifier and by the
    addresses pinged, since a raw socket sees every ICMP packet of the machine."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.ident = os.getpid() & 0xFFFF
        self.wanted: set[str] = set()

    @classmethod
    def open(cls) -> _Pinger | None:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            return None
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        except OSError:
            return None
        sock.setblocking(False)
        return cls(sock)

    @staticmethod
    def _checksum(data: bytes) -> int:
        if len(data) % 2:
            data += b"\0"
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
        total = (total >> 16) + (total & 0xFFFF)
        total += total >> 16
        return ~total & 0xFFFF

    def send_all(self, addresses: Sequence[str]) -> None:
        for seq, ip in enumerate(addresses):
            if ":" in ip:
                continue
            header = struct.pack("!BBHHH", 8, 0, 0, self.ident, seq & 0xFFFF)
            packet = header + b"atalaya-scan"
            checksum = self._checksum(packet)
            packet = struct.pack("!BBHHH", 8, 0, checksum, self.ident, seq & 0xFFFF) + packet[8:]
            try:
                self.sock.sendto(packet, (ip, 0))
                self.wanted.add(ip)
            except OSError:
                continue  # unreachable, or the send buffer is full: TCP still probes it

    def replies(self) -> list[str]:
        found: list[str] = []
        while True:
            try:
                data, (ip, _port) = self.sock.recvfrom(2048)
            except (BlockingIOError, InterruptedError):
                return found
            except OSError:
                return found
            ihl = (data[0] & 0x0F) * 4 if data else 0
            if len(data) < ihl + 8:
                continue
            kind, _code, _sum, ident, _seq = struct.unpack("!BBHHH", data[ihl : ihl + 8])
            if kind == 0 and ident == self.ident and ip in self.wanted:
                found.append(ip)

    def close(self) -> None:
        self.sock.close()


class _Poller:
    """Readiness of many sockets by fd: epoll where there is one (Linux: no per-call
    wrapper objects, which is most of a connect scan's Python cost), else selectors."""

    def __init__(self) -> None:
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._selector = None if self._epoll else selectors.DefaultSelector()

    def register(self, fd: int, *, writable: bool) -> None:
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLOUT if writable else select.EPOLLIN)
        else:
            assert self._selector is not None
            self._selector.register(fd, selectors.EVENT_WRITE if writable else selectors.EVENT_READ)

    def modify(self, fd: int, *, writable: bool) -> None:
        if self._epoll is not None:
            self._epoll.modify(fd, select.EPOLLOUT if writable else select.EPOLLIN)
        else:
            assert self._selector is not None
            self._selector.modify(fd, selectors.EVENT_WRITE if writable else selectors.EVENT_READ)

    def unregister(self, fd: int) -> None:
        if self._epoll is not None:
            self._epoll.unregister(fd)
        else:
            assert self._selector is not None
            self._selector.unregister(fd)

    def ready(self, timeout: float) -> list[int]:
        if self._epoll is not None:
            return [fd for fd, _events in self._epoll.poll(timeout)]
        assert self._selector is not None
        return [key.fd for key, _events in self._selector.select(timeout)]

    def close(self) -> None:
        if self._epoll is not None:
            self._epoll.close()
        else:
            assert self._selector is not None
            self._selector.close()


@dataclass
class _Probe:
    ip: str
    port: int
    deadline: float
    sock: _socket.socket
    reading: bool = False
    banner: bytes = b""
    done: bool = False


@dataclass
class _Host:
    ip: str
    up_by: str = ""
    ports: list[dict[str, Any]] = field(default_factory=list)


def _printable(data: bytes) -> str:
    text = data.decode("utf-8", "replace").split("\n", 1)[0].strip()
    return "".join(ch for ch in text if ch.isprintable())[:BANNER_BYTES]


def scan(
    targets: Sequence[str],
    ports: str | Sequence[int] | None = None,
    *,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    concurrency: int = 2048,
    banners: bool = True,
    icmp: bool = True,
) -> dict[str, Any]:
    """Scan ``targets`` × ``ports`` and return the scan JSON (PROTOCOL.md)."""
    started = time.time()
    addresses = parse_targets(targets)
    port_list = parse_ports(ports)
    timeout = max(0.05, min(timeout_ms, 30_000) / 1000)
    limit = max(16, min(concurrency, _raise_fd_limit(concurrency + 64) - 64))
    hosts: dict[str, _Host] = {}
    errors: list[str] = []
    poller = _Poller()
    # Pings go out first (as root only) and their replies are read while the TCP
    # probes run, so discovery by ICMP costs the scan no extra time.
    pinger = _Pinger.open() if icmp else None
    if pinger is not None:
        pinger.send_all(addresses)
        poller.register(pinger.fd, writable=False)
    probes: dict[int, _Probe] = {}
    pending = ((ip, port) for ip in addresses for port in port_list)
    exhausted = False
    # Probes by deadline: connects waiting to complete, open ports waiting to greet.
    connecting: deque[_Probe] = deque()
    greeting: deque[_Probe] = deque()
    # The C socket type itself: socket.socket's Python wrapper costs a fifth of a scan.
    new_socket = _socket.socket

    def host(ip: str) -> _Host:
        found = hosts.get(ip)
        if found is None:
            found = hosts[ip] = _Host(ip)
        return found

    def finish(probe: _Probe, is_open: bool) -> None:
        probe.done = True
        fd = probe.sock.fileno()
        poller.unregister(fd)
        del probes[fd]
        probe.sock.close()
        if is_open:
            entry = {"port": probe.port, "proto": "tcp", "banner": _printable(probe.banner)}
            host(probe.ip).ports.append(entry)

    while True:
        now = time.monotonic()
        while not exhausted and len(probes) < limit:
            try:
                ip, port = next(pending)
            except StopIteration:
                exhausted = True
                break
            sock = new_socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            code = sock.connect_ex((ip, port))
            if code not in (0, errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
                sock.close()
                if code == errno.ECONNREFUSED:
                    host(ip).up_by = host(ip).up_by or "tcp"
                elif code not in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                    errors.append(f"{ip}:{port}: {os.strerror(code)}")
                continue
            probe = _Probe(ip, port, now + timeout, sock)
            fd = sock.fileno()
            probes[fd] = probe
            poller.register(fd, writable=True)
            connecting.append(probe)
        if not probes and exhausted:
            break
        for fd in poller.ready(0.05):
            if pinger is not None and fd == pinger.fd:
                for ip in pinger.replies():
                    host(ip).up_by = host(ip).up_by or "icmp"
                continue
            probe = probes[fd]
            if probe.reading:
                try:
                    chunk = probe.sock.recv(BANNER_BYTES)
                except OSError:
                    chunk = b""
                probe.banner += chunk
                if not chunk or len(probe.banner) >= BANNER_BYTES or b"\n" in probe.banner:
                    finish(probe, True)
                continue
            code = probe.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                host(probe.ip).up_by = "tcp"
                if banners and probe.port in BANNER_PORTS:
                    probe.reading = True
                    probe.deadline = time.monotonic() + BANNER_WAIT_S
                    poller.modify(fd, writable=False)
                    greeting.append(probe)
                    continue
                finish(probe, True)
            else:
                if code == errno.ECONNREFUSED:
                    host(probe.ip).up_by = host(probe.ip).up_by or "tcp"
                finish(probe, False)
        # Each queue is in deadline order (one timeout each), so only heads are looked at.
        # A silent open port keeps its place; a connect that never completed is
        # filtered and says nothing about the host.
        now = time.monotonic()
        for queue in (connecting, greeting):
            while queue and (queue[0].done or queue[0].deadline <= now):
                head = queue.popleft()
                if not head.done and (queue is greeting or not head.reading):
                    finish(head, head.reading)
    if pinger is not None:
        for ip in pinger.replies():
            host(ip).up_by = host(ip).up_by or "icmp"
        poller.unregister(pinger.fd)
        pinger.close()
    poller.close()

    arp = neighbours()
    for ip in addresses:
        if ip in arp and ip not in hosts:
            hosts[ip] = _Host(ip, up_by="arp")
    out: list[dict[str, Any]] = []
    for ip in addresses:
        found = hosts.get(ip)
        if found is None or not (found.up_by or found.ports):
            continue
        out.append(
            {
                "ip": ip,
                "mac": arp.get(ip, ""),
                "hostname": "",
                "up_by": "arp" if ip in arp and not found.up_by else (found.up_by or "tcp"),
                "ports": sorted(found.ports, key=lambda p: p["port"]),
            }
        )
    return {
        "version": 1,
        "started_at": started,
        "finished_at": time.time(),
        "targets": list(targets),
        "ports": port_list,
        "hosts": out,
        "errors": errors[:50],
    }


def summary(result: dict[str, Any]) -> str:
    """One line for the action's output: hosts up and open ports."""
    open_ports = sum(len(h["ports"]) for h in result["hosts"])
    return f"{len(result['hosts'])} hosts up, {open_ports} open ports"
