"""Real servers for the tests: a throwaway PostgreSQL cluster, a Postfix
instance relaying to our LMTP port, and `mailgate serve` itself.

Everything listens on 127.0.0.1 on a free port, lives in its own temporary
directory and is stopped by PID. initdb refuses to run as root, so as root
PostgreSQL runs as the `postgres` account through setpriv (which execs, so
the PID we hold is the server's).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MAILGATE = [sys.executable, "-m", "mailgate"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_greeting(port: int, prefix: bytes, timeout: float = 20.0, proc=None) -> None:
    """Ready means the server spoke ("220", "* OK"), not merely an open port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before it was ready")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(64).startswith(prefix):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"nothing answered {prefix!r} on port {port} within {timeout}s")


def _as_user(user: str | None) -> list[str]:
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups"] if user else []


class PostgresServer:
    """A PostgreSQL cluster in a temp dir. Unless `durable`, fsync is off: the
    data is thrown away anyway, and tests run faster."""

    def __init__(self, durable: bool = False):
        self.durable = durable
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not bins:
            raise FileNotFoundError("PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
        self.bin = Path(bins[-1])
        self.user = "postgres" if os.geteuid() == 0 else None
        self.dir = Path(tempfile.mkdtemp(prefix="mailgate-pg-"))
        if self.user:
            os.chown(self.dir, pwd.getpwnam(self.user).pw_uid, pwd.getpwnam(self.user).pw_gid)
        self.port = free_port()
        self._run("initdb", "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(_as_user(self.user) + [str(self.bin / tool), *args], cwd=self.dir,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log"),
                  "-w", "-t", "30", "-o", options, "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class MailgateServer:
    """`mailgate serve` as a real process, configured by env overrides."""

    def __init__(self, config_path: Path, env: dict[str, str]):
        self.smtp_port = free_port()
        self.lmtp_port = free_port()
        self.config_path = config_path
        self.env = {**os.environ, **env,
                    "MAILGATE_SMTP_LISTEN": f"127.0.0.1:{self.smtp_port}",
                    "MAILGATE_LMTP_LISTEN": f"127.0.0.1:{self.lmtp_port}"}
        self.log_path = config_path.parent / "serve.log"
        self.proc: subprocess.Popen | None = None
        self.killed = False

    def start(self) -> "MailgateServer":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(MAILGATE + ["-c", str(self.config_path), "serve"], env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        log.close()
        try:
            wait_for_greeting(self.smtp_port, b"220", proc=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n{self.log()}") from None
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: nothing is finished."""
        self.killed = True
        self.proc.kill()
        self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


POSTFIX_MASTER_CF = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
lmtp      unix  - - n - - lmtp
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


class PostfixServer:
    """A Postfix instance (root only) that takes mail for `domain` on SMTP and
    delivers it over LMTP to mailgate; nothing under /etc/postfix is changed."""

    @staticmethod
    def unavailable() -> str | None:
        """Why Postfix cannot run here, or None."""
        if not os.path.exists("/usr/sbin/postfix"):
            return "needs Postfix installed; `make test` installs it"
        if os.geteuid() != 0:
            return "Postfix's master process must be started as root"
        return None

    def __init__(self, domain: str, lmtp_port: int):
        self.dir = Path(tempfile.mkdtemp(prefix="mailgate-postfix-"))
        self.smtp_port = free_port()
        for sub in ("etc", "queue", "data"):
            (self.dir / sub).mkdir()
        os.chown(self.dir / "data", pwd.getpwnam("postfix").pw_uid, -1)
        os.chmod(self.dir, 0o755)
        (self.dir / "etc" / "main.cf").write_text(self._main_cf(domain, lmtp_port))
        (self.dir / "etc" / "master.cf").write_text(POSTFIX_MASTER_CF.format(smtp_port=self.smtp_port))

    def _main_cf(self, domain: str, lmtp_port: int) -> str:
        d = self.dir
        return f"""\
compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.mailgate.test
mydomain = mailgate.test
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains = {domain}
relay_recipient_maps =
transport_maps = inline:{{ {domain}=lmtp:inet:127.0.0.1:{lmtp_port} }}
# Ask mailgate at RCPT time (an LMTP probe) so unknown recipients are refused
# while the client is still connected instead of bounced later.
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_relay_restrictions = reject_unverified_recipient, permit_mynetworks, reject_unauth_destination
unverified_recipient_reject_code = 550
address_verify_poll_count = 10
address_verify_poll_delay = 1s
default_transport = error:outbound mail disabled in tests
disable_dns_lookups = yes
smtp_host_lookup = native
lmtp_host_lookup = native
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtpd_banner = $myhostname ESMTP test
biff = no
maillog_file_prefixes = {d}
maillog_file = {d}/maillog
"""

    def start(self) -> "PostfixServer":
        subprocess.run(["/usr/sbin/postfix", "-c", str(self.dir / "etc"), "start"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_greeting(self.smtp_port, b"220", timeout=30)
        return self

    def log(self) -> str:
        path = self.dir / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def flush(self) -> None:
        """`postqueue -f`: try the deferred mail now, as an admin does once an outage is over."""
        subprocess.run(["/usr/sbin/postqueue", "-c", str(self.dir / "etc"), "-f"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def queue_is_empty(self) -> bool:
        out = subprocess.run(["/usr/sbin/postqueue", "-c", str(self.dir / "etc"), "-p"],
                             capture_output=True, text=True).stdout
        return "Mail queue is empty" in out

    def stop(self) -> None:
        pid_file = self.dir / "queue" / "pid" / "master.pid"
        pid = int(pid_file.read_text().strip()) if pid_file.exists() else None
        subprocess.run(["/usr/sbin/postfix", "-c", str(self.dir / "etc"), "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while pid and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        shutil.rmtree(self.dir, ignore_errors=True)
