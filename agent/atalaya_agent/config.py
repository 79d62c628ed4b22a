"""Where the agent keeps its state, and what its local configuration allows.

The state directory holds ``state.json`` (server URL, device id, the server's
action-signing public key, the configuration the server last sent), ``token`` (the
device token, mode 0600, kept apart so the state file can be read for support without
exposing it), ``agent.conf`` (the local configuration, INI; written by the machine's
administrator, never by the server) and ``spool.sqlite3``.

The local configuration is what the server cannot change: whether scripts may run at
all (off by default), whether reboots may be asked for, the spool bound. A
compromised server can sign actions; it cannot turn scripts on.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
TOKEN_FILE = "token"
CONF_FILE = "agent.conf"
SPOOL_FILE = "spool.sqlite3"

DEFAULT_INTERVAL_S = 60
DEFAULT_MAX_SAMPLES = 20_000  # about two weeks at one sample a minute
DEFAULT_BACKOFF_MAX_S = 300
DEFAULT_TIMEOUT_S = 30
DEFAULT_MAX_BODY_KB = 1000

CONF_TEMPLATE = """\
# Local configuration of atalaya-agent. The server cannot change these settings.
[agent]
# Run scripts from the server's approved library (signed actions). Off unless set here.
allow_scripts = false
# Let the server ask for a reboot (signed actions).
allow_reboot = true
# Samples kept while the server is unreachable; beyond that the oldest are averaged
# pairwise (never dropped). 20000 is about two weeks at one sample a minute.
max_samples = 20000
# Longest wait between two attempts while the server is unreachable, in seconds.
backoff_max_s = 300
# Collection interval in seconds; empty means what the server says (60).
interval_s =
# A CA bundle to verify the server's certificate with, instead of the system's.
ca_file =
# The command a reboot action runs; empty means the platform's own.
reboot_command =
"""


def default_state_dir() -> Path:
    """``ATALAYA_AGENT_STATE_DIR``, else the system path for root, else the user's."""
    env = os.environ.get("ATALAYA_AGENT_STATE_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = os.environ.get("PROGRAMDATA", r"C:\ProgramData")
        return Path(base) / "atalaya-agent"
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/atalaya-agent")
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "atalaya-agent"


def ensure_dir(path: Path) -> None:
    # 0700: the spool holds action output and the directory holds the token.
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(path, 0o700)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, readable by the owner only (mode 0600)."""
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.")
    try:
        if os.name == "posix":
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@dataclass
class LocalConfig:
    """The machine administrator's settings (``agent.conf``), with environment overrides.

    ``ATALAYA_AGENT_INTERVAL_S`` and ``ATALAYA_AGENT_BACKOFF_MAX_S`` override the file
    (tests use them for one-second cycles).
    """

    allow_scripts: bool = False
    allow_reboot: bool = True
    max_samples: int = DEFAULT_MAX_SAMPLES
    backoff_max_s: float = DEFAULT_BACKOFF_MAX_S
    interval_s: float | None = None
    ca_file: str | None = None
    reboot_command: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_body_kb: int = DEFAULT_MAX_BODY_KB

    @classmethod
    def load(cls, state_dir: Path) -> LocalConfig:
        parser = configparser.ConfigParser()
        path = state_dir / CONF_FILE
        if path.exists():
            parser.read(path, encoding="utf-8")
        section = parser["agent"] if parser.has_section("agent") else parser["DEFAULT"]

        def text(name: str) -> str | None:
            value = section.get(name, "").strip()
            return value or None

        def number(name: str, default: float | None) -> float | None:
            value = os.environ.get(f"ATALAYA_AGENT_{name.upper()}") or text(name)
            if value is None:
                return default
            try:
                result = float(value)
            except ValueError:
                raise ConfigError(f"{path}: {name} must be a number, not {value!r}") from None
            if result <= 0:
                raise ConfigError(f"{path}: {name} must be positive, not {value!r}")
            return result

        try:
            allow_scripts = section.getboolean("allow_scripts", fallback=False)
            allow_reboot = section.getboolean("allow_reboot", fallback=True)
        except ValueError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        max_samples = int(number("max_samples", DEFAULT_MAX_SAMPLES) or DEFAULT_MAX_SAMPLES)
        return cls(
            allow_scripts=allow_scripts,
            allow_reboot=allow_reboot,
            # Fewer than a few samples would leave nothing to average into.
            max_samples=max(10, max_samples),
            backoff_max_s=number("backoff_max_s", DEFAULT_BACKOFF_MAX_S) or DEFAULT_BACKOFF_MAX_S,
            interval_s=number("interval_s", None),
            ca_file=text("ca_file"),
            reboot_command=text("reboot_command"),
            timeout_s=number("timeout_s", DEFAULT_TIMEOUT_S) or DEFAULT_TIMEOUT_S,
            max_body_kb=int(number("max_body_kb", DEFAULT_MAX_BODY_KB) or DEFAULT_MAX_BODY_KB),
        )


class ConfigError(Exception):
    """The local configuration or the state directory cannot be used as it is."""


class NotEnrolledError(ConfigError):
    """There is no enrollment in the state directory, or the server no longer knows it."""


@dataclass
class State:
    """What enrollment stored and the server's configuration since: ``state.json`` + ``token``."""

    state_dir: Path
    server: str
    device_id: str
    signing_public_key: str
    token: str
    enrolled_at: int = 0
    ca_file: str | None = None
    server_config: dict[str, Any] = field(default_factory=dict)
    inventory_hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def config_version(self) -> int:
        return int(self.server_config.get("version") or 0)

    @property
    def services(self) -> list[str]:
        return [str(s) for s in self.server_config.get("services") or []]

    @property
    def processes(self) -> list[str]:
        return [str(p) for p in self.server_config.get("processes") or []]

    @classmethod
    def load(cls, state_dir: Path) -> State:
        try:
            data = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
            token = (state_dir / TOKEN_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise NotEnrolledError(
                f"not enrolled: no {STATE_FILE} or {TOKEN_FILE} in {state_dir} "
                "(run `atalaya-agent enroll --server URL --token TOKEN`)"
            ) from None
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the state in {state_dir}: {exc}") from None
        known = {"server", "device_id", "signing_public_key", "enrolled_at", "ca_file"}
        return cls(
            state_dir=state_dir,
            server=str(data["server"]),
            device_id=str(data["device_id"]),
            signing_public_key=str(data["signing_public_key"]),
            token=token,
            enrolled_at=int(data.get("enrolled_at") or 0),
            ca_file=data.get("ca_file"),
            server_config=dict(data.get("config") or {}),
            inventory_hash=str(data.get("inventory_hash") or ""),
            extra={
                k: v
                for k, v in data.items()
                if k not in known and k not in ("config", "inventory_hash")
            },
        )

    def save(self, *, token: bool = False) -> None:
        data = dict(self.extra)
        data.update(
            {
                "server": self.server,
                "device_id": self.device_id,
                "signing_public_key": self.signing_public_key,
                "enrolled_at": self.enrolled_at,
                "ca_file": self.ca_file,
                "config": self.server_config,
                "inventory_hash": self.inventory_hash,
            }
        )
        write_private(self.state_dir / STATE_FILE, json.dumps(data, indent=2, sort_keys=True))
        if token:
            write_private(self.state_dir / TOKEN_FILE, self.token + "\n")
