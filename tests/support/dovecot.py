"""A real Dovecot IMAP server for the tests: its own config in a temp dir
(nothing under /etc/dovecot is read), Maildir storage, a passwd-file,
IMAP and IMAPS on free loopback ports with a self-signed certificate.

Dovecot refuses to run its login process as root, so as root every Dovecot
process runs as the unprivileged account `mailgate-test` ("rootless"
Dovecot), started through setpriv, which execs: the PID we hold is the
master's, and SIGTERM reaches it. Ready means the "* OK" greeting.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.support.servers import _as_user, free_port, wait_for_greeting

DOVECOT = "/usr/sbin/dovecot"
ACCOUNT = "mailgate-test"

CONFIG = """\
instance_name = mailgate-test-{port}
base_dir = {dir}/run
state_dir = {dir}/state
protocols = imap
listen = 127.0.0.1
log_path = {dir}/dovecot.log
ssl = yes
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={dir}/mail/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service ipc {{
  chroot =
}}
service old-stats {{
  chroot =
}}
"""


class DovecotServer:
    @staticmethod
    def unavailable() -> str | None:
        if not os.path.exists(DOVECOT):
            return "needs Dovecot (dovecot-imapd); `make test` installs it"
        return None

    def __init__(self, users: dict[str, str], oauth2_introspection_url: str | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="mailgate-dovecot-"))
        self.port, self.ssl_port = free_port(), free_port()
        self.user = self._account() if os.geteuid() == 0 else None
        name = self.user or pwd.getpwuid(os.geteuid()).pw_name
        group = subprocess.run(["id", "-gn", name], capture_output=True, text=True, check=True).stdout.strip()
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir()
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", str(self.dir / "key.pem"), "-out", str(self.cert)],
                       check=True, capture_output=True)
        self.set_users(users)
        config = CONFIG.format(dir=self.dir, port=self.port, ssl_port=self.ssl_port, user=name, group=group)
        if oauth2_introspection_url:
            config = _with_oauth2(config, self.dir, oauth2_introspection_url)
        (self.dir / "dovecot.conf").write_text(config)
        if self.user:
            account = pwd.getpwnam(self.user)
            for path in [self.dir, *self.dir.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid)
        self.proc: subprocess.Popen | None = None

    @property
    def cert(self) -> Path:
        return self.dir / "cert.pem"

    @staticmethod
    def _account() -> str:
        try:
            pwd.getpwnam(ACCOUNT)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ACCOUNT],
                           check=True)
        return ACCOUNT

    def set_users(self, users: dict[str, str]) -> None:
        """The accounts and passwords (Dovecot reads the file again when it changes)."""
        path = self.dir / "passwd"
        path.write_text("".join(f"{user}:{{PLAIN}}{password}\n" for user, password in users.items()))
        if self.user:
            account = pwd.getpwnam(self.user)
            os.chown(path, account.pw_uid, account.pw_gid)

    def start(self) -> "DovecotServer":
        self.proc = subprocess.Popen(_as_user(self.user) + [DOVECOT, "-F", "-c", str(self.dir / "dovecot.conf")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.dir)
        try:
            wait_for_greeting(self.port, b"* OK", proc=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}\n{self.log()}") from None
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def doveadm(self, *args: str, input: bytes | None = None) -> str:
        return subprocess.run(_as_user(self.user) + ["doveadm", "-c", str(self.dir / "dovecot.conf"), *args],
                              input=input, capture_output=True, check=True, cwd=self.dir).stdout.decode()

    def log(self) -> str:
        path = self.dir / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _with_oauth2(config: str, directory: Path, url: str) -> str:
    """XOAUTH2 and OAUTHBEARER logins, each token checked by POSTing it to
    `url` (RFC 7662 introspection, as Dovecot's oauth2 passdb does); plain
    passwords still work through the passwd-file."""
    (directory / "oauth2.conf").write_text(
        f"introspection_mode = post\nintrospection_url = {url}\nusername_attribute = username\n"
        "active_attribute = active\nactive_value = true\nforce_introspection = yes\n")
    config = config.replace("auth_mechanisms = plain login", "auth_mechanisms = plain login xoauth2 oauthbearer")
    return config.replace("passdb {\n  driver = passwd-file", (
        f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {directory}/oauth2.conf\n}}\n"
        "passdb {\n  driver = passwd-file"))
