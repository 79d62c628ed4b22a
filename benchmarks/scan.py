"""Network scan figures: the agent's scanner against nmap on the same /24 of loopback.

Plants TCP listeners on random hosts and ports of 127.99.0.0/24 (from the default port
list), then scans the whole /24 × the default list with the agent's scanner and with
``nmap -sT -T4 -n -Pn`` (a connect scan like ours; -Pn because every loopback address
answers, so host discovery would only add nmap's ping time). Prints wall times, their
ratio (ours over nmap's), the share of planted services each found and ports reported
open that were not planted.

    .venv/bin/python benchmarks/scan.py [--services 40] [--seed 1]

nmap comes from Debian (`make nmap`). Nothing outside 127.99.0.0/24 is scanned.
"""

from __future__ import annotations

import argparse
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import defusedxml.ElementTree as ET

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "agent"))

from atalaya_agent import scan  # noqa: E402

NET = "127.99.0"


def plant(count: int, seed: int) -> tuple[set[tuple[str, int]], list[socket.socket]]:
    rng = random.Random(seed)
    planted: set[tuple[str, int]] = set()
    socks = []
    while len(planted) < count:
        ip, port = f"{NET}.{rng.randrange(1, 255)}", rng.choice(scan.DEFAULT_PORTS)
        if (ip, port) in planted:
            continue
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError:
            sock.close()
            continue
        sock.listen(128)
        socks.append(sock)
        planted.add((ip, port))
    return planted, socks


def run_ours() -> tuple[float, set[tuple[str, int]]]:
    started = time.perf_counter()
    result = scan.scan([f"{NET}.0/24"], scan.DEFAULT_PORTS, timeout_ms=1000, banners=False)
    took = time.perf_counter() - started
    return took, {(h["ip"], p["port"]) for h in result["hosts"] for p in h["ports"]}


def run_nmap() -> tuple[float, set[tuple[str, int]]]:
    ports = ",".join(str(p) for p in scan.DEFAULT_PORTS)
    argv = ["nmap", "-sT", "-T4", "-n", "-Pn", "-p", ports, "-oX", "-", f"{NET}.0/24"]
    started = time.perf_counter()
    out = subprocess.run(argv, capture_output=True, check=True).stdout
    took = time.perf_counter() - started
    found = set()
    for host in ET.fromstring(out).iter("host"):
        address = host.find("address").get("addr")
        for port in host.iter("port"):
            if port.find("state").get("state") == "open":
                found.add((address, int(port.get("portid"))))
    return took, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if shutil.which("nmap") is None:
        sys.exit("nmap is not installed: run `make nmap` first")
    planted, socks = plant(args.services, args.seed)
    try:
        ours_s, ours = run_ours()
        nmap_s, theirs = run_nmap()
    finally:
        for sock in socks:
            sock.close()
    probes = 254 * len(scan.DEFAULT_PORTS)
    print(f"RESULT scan_probes={probes} connects")
    print(f"RESULT scan_ours_s={ours_s:.2f} s")
    print(f"RESULT scan_nmap_s={nmap_s:.2f} s")
    print(f"RESULT scan_vs_nmap_ratio={ours_s / nmap_s:.2f} ratio")
    print(f"RESULT scan_found_pct={100 * len(ours & planted) / len(planted):.1f} %")
    print(f"RESULT scan_false_open={len(ours - planted)} ports")
    print(f"RESULT nmap_found_pct={100 * len(theirs & planted) / len(planted):.1f} %")


if __name__ == "__main__":
    main()
