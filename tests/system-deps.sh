#!/bin/sh
# Install the Debian packages the test suite's real servers need, only those
# missing: Postfix (MX in front of our LMTP), swaks (a real SMTP/LMTP client),
# Dovecot (IMAP server) and the PostgreSQL server (a throwaway cluster).
# Nothing is started or configured system-wide: the fixtures run their own
# instances under temporary directories on 127.0.0.1.
set -eu

PACKAGES="postfix swaks libnet-ssleay-perl dovecot-imapd postgresql"

missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $package"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
else
    echo "tests need these Debian packages:$missing" >&2
    echo "install them as root (apt-get install$missing); until then the tests that need them skip." >&2
    exit 0
fi

# Keep package scripts from starting system-wide daemons on ports 25, 143, 5432.
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    created_policy=yes
fi
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
[ -n "$created_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
exit 0
