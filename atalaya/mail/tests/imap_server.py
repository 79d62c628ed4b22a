"""A real IMAP server for the tests: a private Dovecot on 127.0.0.1.

``dovecot`` (session) writes a configuration into a temporary directory and runs
``dovecot -F -c …`` as a child process: one plain listener that offers STARTTLS and
one IMAPS listener on free ports, a self-signed certificate made with openssl (its file
is the CA the tests trust through ``settings.MAIL_CA_FILE``), users in a passwd-file,
maildirs in the temporary directory. When Dovecot is not installed it installs
Debian's ``dovecot-imapd`` (``make dovecot`` does the same); if that is impossible the
test fails and says what to install.

``imap`` (per test) sets ``settings.MAIL_CA_FILE`` to the server's certificate and
gives the test a Dovecot handle to add users and put mail in with APPEND.

As root, Dovecot refuses to run mail processes as uid 0 and its login processes as
root: mail belongs to ``nobody``, login processes run as the package's ``dovenull``
and internal ones as ``dovecot``. As any other user, everything runs as that user.
"""

from __future__ import annotations

import fcntl
import getpass
import grp
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Dovecot", "dovecot", "imap"]

DOVECOT = Path("/usr/sbin/dovecot")
INSTALL = (
    "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
    "-o DPkg::Lock::Timeout=300 dovecot-imapd"
)
HOW_TO_INSTALL = (
    "The IMAP tests need Debian's Dovecot. Install it with `make dovecot`, or "
    "`sudo apt-get install dovecot-imapd`."
)
HOST = "127.0.0.1"
PASSWORD = "imap-test-password"
# Users written into the passwd-file at start: Dovecot rereads the file at most once a
# second, so users added on the fly would not be known yet at the next login.
POOL = 500


def ensure_dovecot() -> None:
    """Install dovecot-imapd when /usr/sbin/dovecot is missing; fail saying how if we cannot."""
    if DOVECOT.exists():
        return
    # Parallel test workers would race for the dpkg lock; one installs, the others wait.
    with open(Path(tempfile.gettempdir()) / "atalaya-dovecot-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if DOVECOT.exists():
            return
        command = ["sh", "-c", INSTALL]
        if os.geteuid() != 0:
            if shutil.which("sudo") is None:
                pytest.fail(f"{HOW_TO_INSTALL} (not root and no sudo to install it)")
            command = ["sudo", "-n", "sh", "-c", INSTALL]
        try:
            done = subprocess.run(  # noqa: S603 - a fixed command
                command, capture_output=True, text=True, timeout=900, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"{HOW_TO_INSTALL} Installing it failed: {exc}")
        if done.returncode != 0 or not DOVECOT.exists():
            pytest.fail(
                f"{HOW_TO_INSTALL} Installing it failed ({done.returncode}):\n{done.stderr[-2000:]}"
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    done = subprocess.run(  # noqa: S603 - fixed arguments
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"openssl could not make the test certificate: {done.stderr}")
    return cert, key


@dataclass
class Dovecot:
    """The running test server: where it listens, its CA file, and helpers to fill it."""

    root: Path
    imap_port: int  # plain IMAP that offers STARTTLS
    imaps_port: int
    ca_file: Path
    passwd: Path
    log: Path
    process: subprocess.Popen[bytes]
    host: str = HOST
    users: dict[str, str] = field(default_factory=dict)
    _names: Iterator[int] = field(default_factory=lambda: iter(range(1, POOL + 1)))

    def add_user(self) -> str:
        """A mail user no other test has used (from the pool in the passwd-file)."""
        name = f"box{next(self._names)}@atalaya.test"
        self.users[name] = PASSWORD
        return name

    def connect(self, user: str) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        conn = imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=context, timeout=10)
        conn.login(user, self.users[user])
        return conn

    def append(self, user: str, raw: bytes, folder: str = "INBOX", flags: str = "") -> None:
        """Put a message into the user's folder, unseen unless ``flags`` say otherwise."""
        conn = self.connect(user)
        try:
            if folder != "INBOX":
                conn.create(folder)
            typ, data = conn.append(folder, flags or None, None, raw)
            assert typ == "OK", data
        finally:
            conn.logout()

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, set[str]]:
        """Each message's flags by UID."""
        conn = self.connect(user)
        try:
            conn.select(folder, readonly=True)
            typ, data = conn.uid("FETCH", "1:*", "(FLAGS)")
            assert typ == "OK", data
            found: dict[int, set[str]] = {}
            for line in data:
                if not isinstance(line, bytes):
                    continue
                text = line.decode()
                uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
                flags = text.split("FLAGS (", 1)[1].split(")", 1)[0].split()
                found[uid] = set(flags)
            return found
        finally:
            conn.logout()

    def unseen(self, user: str, folder: str = "INBOX") -> list[int]:
        return sorted(
            uid for uid, flags in self.flags(user, folder).items() if r"\Seen" not in flags
        )

    def mark_unseen(self, user: str, uid: int, folder: str = "INBOX") -> None:
        """Take \\Seen off a message again, as a person might in their mail program."""
        conn = self.connect(user)
        try:
            conn.select(folder)
            typ, data = conn.uid("STORE", str(uid), "-FLAGS", r"(\Seen)")
            assert typ == "OK", data
        finally:
            conn.logout()

    def mailbox_settings(self, user: str, security: str = "imaps") -> dict[str, Any]:
        """Keyword arguments for mail.services.create_mailbox fetching from ``user``."""
        return {
            "imap_host": self.host,
            "imap_port": self.imaps_port if security == "imaps" else self.imap_port,
            "imap_security": security,
            "imap_username": user,
            "imap_password": self.users[user],
        }

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _config(root: Path, *, cert: Path, key: Path, imap_port: int, imaps_port: int) -> str:
    if os.geteuid() == 0:
        # Dovecot will not run mail as uid 0 nor login processes as root.
        internal, login, internal_group = "dovecot", "dovenull", "dovecot"
        mail_user = pwd.getpwnam("nobody")
        mail_uid, mail_gid = mail_user.pw_uid, mail_user.pw_gid
    else:
        internal = login = getpass.getuser()
        # Dovecot's own sockets belong to this group; we can only give them our own.
        internal_group = grp.getgrgid(os.getgid()).gr_name
        mail_uid, mail_gid = os.getuid(), os.getgid()
    home = root / "home"
    home.mkdir()
    os.chown(home, mail_uid, mail_gid)
    mail_group = grp.getgrgid(mail_gid).gr_name
    mail_owner = pwd.getpwuid(mail_uid).pw_name
    return f"""# Written by atalaya/mail/tests/imap_server.py for one test session.
protocols = imap
listen = {HOST}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
default_internal_user = {internal}
default_login_user = {login}
default_internal_group = {internal_group}
first_valid_uid = 1
first_valid_gid = 1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
# The plain listener must also take a login before STARTTLS (a mailbox set to "plain").
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
# Tests try wrong passwords on purpose; no need to wait two seconds each time.
auth_failure_delay = 0
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_owner} gid={mail_group} home={home}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {imaps_port}
    ssl = yes
  }}
}}
service auth-worker {{
  user = $default_internal_user
}}
# Chroots need root; nothing here needs one.
service anvil {{
  chroot =
}}
"""


def _wait_until_listening(server: Dovecot, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            pytest.fail(
                f"Dovecot exited ({server.process.returncode}) at start:\n"
                f"{(server.process.stderr.read() if server.process.stderr else b'').decode()}\n"
                f"{server.log_text()[-3000:]}"
            )
        try:
            for port in (server.imap_port, server.imaps_port):
                with socket.create_connection((HOST, port), timeout=1):
                    pass
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"Dovecot did not listen within {timeout} s:\n{server.log_text()}")
            time.sleep(0.1)


def start_dovecot(attempts: int = 3) -> Dovecot:
    """A running Dovecot; tried again when a free port was taken meanwhile."""
    ensure_dovecot()
    for attempt in range(1, attempts + 1):
        server = _launch()
        try:
            _wait_until_listening(server)
        except pytest.fail.Exception as exc:
            # The message holds Dovecot's standard error and log.
            in_use = "Address already in use" in str(exc)
            stop_dovecot(server)
            if in_use and attempt < attempts:
                continue
            raise
        return server
    raise AssertionError("unreachable")


def _launch() -> Dovecot:
    # Not pytest's tmp_path: its parents are private to us, and Dovecot's unprivileged
    # login processes must reach the sockets in base_dir (short paths, too).
    root = Path(tempfile.mkdtemp(prefix="atalaya-dovecot-"))
    root.chmod(0o755)
    for name in ("run", "state"):
        (root / name).mkdir(mode=0o755)
    cert, key = _make_certificate(root)
    passwd = root / "passwd"
    passwd.write_text(
        "".join(f"box{n}@atalaya.test:{{PLAIN}}{PASSWORD}\n" for n in range(1, POOL + 1))
    )
    passwd.chmod(0o644)
    imap_port, imaps_port = free_port(), free_port()
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, cert=cert, key=key, imap_port=imap_port, imaps_port=imaps_port))
    process = subprocess.Popen(  # noqa: S603 - our own binary and file
        [str(DOVECOT), "-F", "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = Dovecot(
        root=root,
        imap_port=imap_port,
        imaps_port=imaps_port,
        ca_file=cert,
        passwd=passwd,
        log=root / "dovecot.log",
        process=process,
    )
    return server


def stop_dovecot(server: Dovecot) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    if server.process.stderr:
        server.process.stderr.close()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A private Dovecot for the whole session, stopped at the end."""
    server = start_dovecot()
    try:
        yield server
    finally:
        stop_dovecot(server)


@pytest.fixture
def imap(dovecot: Dovecot, settings: Any) -> Dovecot:
    """The test Dovecot, with its certificate trusted through MAIL_CA_FILE."""
    settings.MAIL_CA_FILE = str(dovecot.ca_file)
    return dovecot
