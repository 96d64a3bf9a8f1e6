#!/bin/sh
# t6001-gitserve.sh: the loopback git servers of tests/lib/gitserve.sh, with
# git and with libgit2 (git-fetch-probe): TLS verification must refuse a
# wrong CA and a wrong host name.
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
probe=$top/build/tests/helpers/git-fetch-probe
if [ ! -x "$probe" ]; then
	echo "1..0 # SKIP $probe not built (make tests)"
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/t6001.XXXXXX")
GITSERVE_DIR=$T/gitserve
export GITSERVE_DIR
. "$top/tests/lib/gitserve.sh"
trap 'gitserve_stop; rm -rf "$T"' EXIT
trap 'exit 1' HUP INT TERM

if ! gitserve_deps https >"$T/deps.log" 2>&1; then
	echo "1..0 # SKIP cannot install the servers: $(tail -n 1 "$T/deps.log")"
	exit 0
fi

HOME=$T
GIT_CONFIG_NOSYSTEM=1
GIT_CONFIG_GLOBAL=/dev/null
export HOME GIT_CONFIG_NOSYSTEM GIT_CONFIG_GLOBAL
unset GIT_SSL_CAINFO GIT_SSL_CAPATH GIT_SSL_NO_VERIFY

n=0
failed=0
ok() {
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
		[ -s "$T/out" ] && sed 's/^/#   /' "$T/out"
	fi
	: >"$T/out"
}

# probe ARGS...: git-fetch-probe into a fresh directory; output in $T/out.
probe() {
	rm -rf "$T/probe"
	"$probe" "$@" "$T/probe" >"$T/out" 2>&1
}

# probe_ok ARGS...: cloned, and HEAD is the commit we made.
probe_ok() {
	probe "$@" && grep -q "^ok HEAD $head\$" "$T/out"
}

# probe_refused PATTERN ARGS...: refused for a certificate reason matching
# PATTERN.
probe_refused() {
	_pat=$1
	shift
	! probe "$@" && grep -q "^refused code=certificate .*$_pat" "$T/out"
}

# listens_only_on_loopback PORT: nothing but 127.0.0.1 has PORT open.
listens_only_on_loopback() {
	ss -Htln "sport = :$1" >"$T/out" 2>&1
	grep -q "127.0.0.1:$1 " "$T/out" && ! grep -qv "127.0.0.1:$1 " "$T/out"
}

port_of() {
	_p=${1#*://*:}
	echo "${_p%%/*}"
}

# A bare repository with one commit on main.
{
	git init -q --bare "$T/policy.git" &&
	git -C "$T/policy.git" symbolic-ref HEAD refs/heads/main &&
	git init -q "$T/work" &&
	echo "managed by congruent" >"$T/work/motd" &&
	git -C "$T/work" add motd &&
	git -C "$T/work" -c user.name=T -c user.email=t@example.com \
		commit -q -m "first policy" &&
	git -C "$T/work" push -q "$T/policy.git" HEAD:refs/heads/main
} >"$T/out" 2>&1
ok $? "set-up: a bare repository with one commit"
head=$(git -C "$T/policy.git" rev-parse HEAD)

# git daemon
url_git=$(gitserve_daemon "$T/policy.git" 2>"$T/out")
echo "$url_git" | grep -q '^git://127\.0\.0\.1:[0-9][0-9]*/policy\.git$'
ok $? "gitserve_daemon prints git://127.0.0.1:PORT/policy.git ($url_git)"
git clone -q "$url_git" "$T/c-git" >"$T/out" 2>&1 &&
	[ "$(git -C "$T/c-git" rev-parse HEAD)" = "$head" ]
ok $? "git clone over git:// gets the commit"
listens_only_on_loopback "$(port_of "$url_git")"
ok $? "git daemon listens on 127.0.0.1 only"

# HTTPS
set -- $(gitserve_https "$T/policy.git" 2>"$T/out")
url=${1:-} ca=${2:-}
echo "$url" | grep -q '^https://localhost:[0-9][0-9]*/policy\.git$' &&
	[ -s "$ca" ]
ok $? "gitserve_https prints https://localhost:PORT/policy.git and a CA file"
wrong_ca=$(gitserve_wrong_ca)
wrong_name=$(gitserve_wrongname_url "$url")
url_ip=$(echo "$url" | sed 's,//localhost:,//127.0.0.1:,')

GIT_SSL_CAINFO=$ca git clone -q "$url" "$T/c-https" >"$T/out" 2>&1 &&
	[ "$(git -C "$T/c-https" rev-parse HEAD)" = "$head" ]
ok $? "git clone over HTTPS with GIT_SSL_CAINFO=the test CA"
! git clone -q "$url" "$T/c-sys" >"$T/out" 2>&1 &&
	grep -q "certificate" "$T/out"
ok $? "git clone with the system CAs only is refused"
! GIT_SSL_CAINFO=$wrong_ca git clone -q "$url" "$T/c-wrong" >"$T/out" 2>&1 &&
	grep -q "certificate verification failed" "$T/out"
ok $? "git clone trusting the wrong CA (same name, other key) is refused"
! GIT_SSL_CAINFO=$ca git clone -q "$wrong_name" "$T/c-name" >"$T/out" 2>&1 &&
	grep -q "wrong.example.*does not match.*localhost" "$T/out"
ok $? "git clone from a server whose certificate names wrong.example is refused"
GIT_SSL_CAINFO=$ca git ls-remote "$url_ip" >"$T/out" 2>&1
ok $? "git (curl, OpenSSL) accepts https://127.0.0.1 by the IP:127.0.0.1 name"
listens_only_on_loopback "$(port_of "$url")" &&
	listens_only_on_loopback "$(port_of "$wrong_name")"
ok $? "nginx listens on 127.0.0.1 only"

# libgit2, as the agent will fetch
probe_ok "$url_git"
ok $? "libgit2 clones over git://"
probe_ok --ca-file "$ca" "$url"
ok $? "libgit2 clones over HTTPS with SET_SSL_CERT_LOCATIONS(file=CA, NULL)"
mkdir "$T/cadir" && cp "$ca" "$T/cadir/test-ca.pem"
probe_ok --ca-dir "$T/cadir" "$url"
ok $? "  and with (NULL, dir): a plain directory of PEM files, no hash links"
probe_ok --ca "$ca" /etc/ssl/certs "$url"
ok $? "  and with (file=CA, dir=/etc/ssl/certs) in one call: both trusted"
probe_refused "not correctly signed by the trusted CA" "$url"
ok $? "libgit2 with its built-in trust store only refuses the test CA"
probe_refused "not correctly signed by the trusted CA" --ca-file "$wrong_ca" "$url"
ok $? "libgit2 trusting the wrong CA refuses (GIT_ECERTIFICATE)"
probe_refused "Common Name (CN) does not match" --ca-file "$ca" "$wrong_name"
ok $? "libgit2 refuses a certificate for wrong.example (GIT_ECERTIFICATE)"
probe_refused "Common Name (CN) does not match" --ca-file "$ca" "$url_ip"
ok $? "libgit2 (mbedTLS 2.28) refuses https://127.0.0.1 although the certificate has IP:127.0.0.1: use host names"
probe_ok --ca-file "$wrong_ca" --ca-file "$ca" "$url"
ok $? "a second SET_SSL_CERT_LOCATIONS replaces the first (wrong, then right: ok)"
probe_refused "not correctly signed" --ca-file "$ca" --ca-file "$wrong_ca" "$url"
ok $? "  (right, then wrong: refused)"

# Tear-down
pids=$(cat "$GITSERVE_DIR/pids")
gitserve_stop
left=
for p in $pids; do
	gitserve__group_alive "$p" && left="$left $p"
done
[ -z "$left" ] && [ ! -d "$GITSERVE_DIR" ] &&
	! listens_only_on_loopback "$(port_of "$url")" &&
	! listens_only_on_loopback "$(port_of "$url_git")"
ok $? "gitserve_stop ends every server and its children and removes the state${left:+ (left:$left)}"
gitserve_stop
ok $? "gitserve_stop twice is harmless"
! { [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; }
ok $? "no system nginx runs"

echo "1..$n"
[ $failed -eq 0 ]
