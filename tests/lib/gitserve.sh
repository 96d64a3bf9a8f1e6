# gitserve.sh: serve bare git repositories on 127.0.0.1 for tests: git daemon, and HTTPS through nginx + fcgiwrap + git http-backend.
#
# Source it, make sure everything is torn down, start servers:
#
#   . "$top/tests/lib/gitserve.sh"
#   trap gitserve_stop EXIT
#   trap 'exit 1' HUP INT TERM       # dash runs EXIT traps on exit only
#   url=$(gitserve_daemon "$T/policy.git")     # git://127.0.0.1:PORT/policy.git
#   set -- $(gitserve_https "$T/policy.git" [--push])   # https://localhost:PORT/policy.git CAFILE
#   GIT_SSL_CAINFO=$2 git clone "$1" ...
#
#   gitserve_ca                  the test CA's certificate (trust it to pass)
#   gitserve_wrong_ca            a second CA, with the same name but another
#                                key, that signed nothing these servers use
#   gitserve_wrongname_url URL   the same repository from a server whose
#                                certificate (by the right CA) names
#                                wrong.example, not localhost
#   gitserve_ssh DIR             "URL KEY KNOWN_HOSTS": an sshd of its own
#   gitserve_stop                stop every server started, remove the state
#   gitserve_deps                install what is missing (root only)
#
# A repository is served as basename(DIR) under dirname(DIR), read-only
# (fetch and clone; no push) unless gitserve_daemon or gitserve_https is
# given --push (gitserve_ssh always lets its user push). Each server listens on 127.0.0.1 only, on a
# free port chosen at random and retried if taken. The HTTPS server
# certificate names DNS:localhost and IP:127.0.0.1.
#
# State (pids, logs, certificates, nginx prefix) lives in $GITSERVE_DIR,
# default ${TMPDIR:-/tmp}/gitserve.$$: $$ is the same in a $(...) subshell
# as in the script, so a URL can be captured with $(...) and gitserve_stop
# in the script's trap still finds every server. Logs stay there until
# gitserve_stop; set GITSERVE_KEEP=1 to keep them for a post-mortem.
#
# Servers run in the background with their output in log files, never on
# the caller's stdout, or $(...) would wait for them to exit.

gitserve__dir() {
	_gs_d=${GITSERVE_DIR:-${TMPDIR:-/tmp}/gitserve.$$}
	if [ ! -d "$_gs_d" ]; then
		(umask 077 && mkdir -p "$_gs_d") || return 1
	fi
	echo "$_gs_d"
}

gitserve__die() {
	echo "gitserve: $*" >&2
	return 1
}

gitserve__sbin() { # NAME: the path of a program that may live in sbin
	command -v "$1" 2>/dev/null ||
		{ [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } ||
		{ [ -x "/sbin/$1" ] && echo "/sbin/$1"; }
}

# Install packages quietly, never starting or enabling a service.
gitserve__install() {
	if [ "$(id -u)" -ne 0 ]; then
		gitserve__die "missing packages:$*; as root: apt-get install$*"
		return 1
	fi
	(
		export DEBIAN_FRONTEND=noninteractive
		own_policy=
		# policy-rc.d answering 101 tells invoke-rc.d and
		# deb-systemd-invoke not to start what is being installed. One
		# that exists already is the administrator's: leave it.
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			printf '#!/bin/sh\n# gitserve.sh: start nothing while it installs\nexit 101\n' \
				>/usr/sbin/policy-rc.d &&
				chmod 755 /usr/sbin/policy-rc.d && own_policy=1
		fi
		if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
			apt-get update -qq >/dev/null 2>&1
		fi
		# shellcheck disable=SC2086
		apt-get install -y -qq --no-install-recommends \
			-o DPkg::Lock::Timeout=300 $* >/dev/null
		rc=$?
		[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
		# The system services these packages bring are not wanted on a
		# test host: not enabled, and stopped if a policy let them run.
		for unit in nginx.service fcgiwrap.service fcgiwrap.socket \
			ssh.service ssh.socket; do
			case " $* " in
			*" ${unit%%.*} "* | *" open${unit%%.*}-server "*) ;;
			*) continue ;;
			esac
			if command -v systemctl >/dev/null 2>&1; then
				systemctl disable --quiet "$unit" >/dev/null 2>&1
				[ -d /run/systemd/system ] &&
					systemctl stop "$unit" >/dev/null 2>&1
			fi
		done
		for svc in nginx fcgiwrap ssh; do
			case " $* " in
			*" $svc "* | *" open${svc}-server "*)
				command -v update-rc.d >/dev/null 2>&1 &&
					update-rc.d "$svc" disable >/dev/null 2>&1
				;;
			esac
		done
		case " $* " in
		*" nginx "*)
			if [ ! -d /run/systemd/system ] && [ -s /run/nginx.pid ] &&
				kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
				/usr/sbin/nginx -s quit >/dev/null 2>&1
			fi
			;;
		esac
		exit $rc
	) || gitserve__die "apt-get install$* failed"
}

# gitserve_deps [https]: make sure the programs are there (git, openssl, ss,
# ps; nginx and fcgiwrap for https), installing what is missing when root.
gitserve_deps() {
	_gs_missing=
	command -v git >/dev/null 2>&1 || _gs_missing="$_gs_missing git"
	command -v openssl >/dev/null 2>&1 || _gs_missing="$_gs_missing openssl"
	command -v ss >/dev/null 2>&1 || _gs_missing="$_gs_missing iproute2"
	command -v ps >/dev/null 2>&1 || _gs_missing="$_gs_missing procps"
	if [ "${1:-}" = https ]; then
		gitserve__sbin nginx >/dev/null || _gs_missing="$_gs_missing nginx"
		gitserve__sbin fcgiwrap >/dev/null ||
			_gs_missing="$_gs_missing fcgiwrap"
		# fcgiwrap depends on "systemd | spawn-fcgi": without systemd,
		# let apt take the small one.
		case "$_gs_missing" in
		*fcgiwrap*)
			dpkg-query -W -f='${db:Status-Abbrev}' systemd 2>/dev/null |
				grep -q '^ii' || _gs_missing="$_gs_missing spawn-fcgi"
			;;
		esac
	fi
	if [ "${1:-}" = ssh ]; then
		gitserve__sbin sshd >/dev/null ||
			_gs_missing="$_gs_missing openssh-server"
		command -v ssh-keygen >/dev/null 2>&1 ||
			_gs_missing="$_gs_missing openssh-client"
	fi
	[ -z "$_gs_missing" ] && return 0
	gitserve__install $_gs_missing
}

gitserve__port() { # a TCP port nobody listens on now
	_gsp_i=0
	while [ $_gsp_i -lt 50 ]; do
		_gsp_i=$((_gsp_i + 1))
		_gsp_p=$(($(od -An -N2 -tu2 /dev/urandom) % 40000 + 20000))
		if [ -z "$(ss -Htln "sport = :$_gsp_p" 2>/dev/null)" ]; then
			echo "$_gsp_p"
			return 0
		fi
	done
	gitserve__die "no free port found"
}

# gitserve__ready PIDFILE PORT...: wait (10 s) until the process in PIDFILE
# listens on every PORT; fail as soon as it has died. (Shell variables are
# global: each helper keeps to its own prefix, here _gsr_.)
gitserve__ready() {
	_gsr_pf=$1
	shift
	_gsr_i=0
	while [ $_gsr_i -lt 100 ]; do
		_gsr_i=$((_gsr_i + 1))
		_gsr_pid=$(cat "$_gsr_pf" 2>/dev/null)
		if [ -n "$_gsr_pid" ]; then
			kill -0 "$_gsr_pid" 2>/dev/null || return 1
			_gsr_all=1
			for _gsr_port in "$@"; do
				ss -Htlnp "sport = :$_gsr_port" 2>/dev/null |
					grep -q "pid=$_gsr_pid," || _gsr_all=
			done
			[ -n "$_gsr_all" ] && return 0
		fi
		sleep 0.1
	done
	return 1
}

gitserve__track() { # PID: stopped by gitserve_stop
	echo "$1" >>"$(gitserve__dir)/pids"
}

# gitserve__spawn LOG PROGRAM ARG...: run PROGRAM in the background as the
# leader of a new process group, output to LOG, tracked at once (a trap may
# come before it is ready); sets _gss_pid. The group is what gitserve_stop
# ends: nginx workers, fcgiwrap's preforked children and git daemon's
# per-connection children with it, and children forked later too, which a
# walk of the process tree could miss. (In a shell with job control the
# job is a group leader already: setsid fails and changes nothing.)
gitserve__spawn() {
	_gss_log=$1
	shift
	perl -MPOSIX -e 'POSIX::setsid();
		exec { $ARGV[0] } @ARGV or die "gitserve: $ARGV[0]: $!\n"' \
		"$@" </dev/null >>"$_gss_log" 2>&1 &
	_gss_pid=$!
	gitserve__track "$_gss_pid"
}

# Are live (not zombie) processes left in process group $1?
gitserve__group_alive() {
	ps -e -o pgid=,stat= |
		awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'
}

gitserve_stop() {
	_gst_d=${GITSERVE_DIR:-${TMPDIR:-/tmp}/gitserve.$$}
	[ -d "$_gst_d" ] || return 0
	if [ -f "$_gst_d/pids" ]; then
		for _gst_pid in $(cat "$_gst_d/pids"); do
			# A group of our own, by its id: never a broader kill.
			if [ "$(ps -o pgid= -p "$_gst_pid" | tr -d ' ')" = "$_gst_pid" ]; then
				kill -TERM "-$_gst_pid" 2>/dev/null
			else
				kill -TERM "$_gst_pid" 2>/dev/null
			fi
		done
		for _gst_pid in $(cat "$_gst_d/pids"); do
			_gst_i=0
			while gitserve__group_alive "$_gst_pid" &&
				[ $_gst_i -lt 30 ]; do
				sleep 0.1
				_gst_i=$((_gst_i + 1))
			done
			if gitserve__group_alive "$_gst_pid"; then
				kill -KILL "-$_gst_pid" 2>/dev/null
			fi
		done
		rm -f "$_gst_d/pids"
	fi
	[ -n "${GITSERVE_KEEP:-}" ] || rm -rf "$_gst_d"
	return 0
}

gitserve__repo() { # DIR: sets _gs_base and _gs_name
	[ -d "$1" ] || { gitserve__die "$1: no such directory"; return 1; }
	_gs_base=$(cd "$(dirname "$1")" && pwd) || return 1
	_gs_name=$(basename "$1")
	git --git-dir="$1" rev-parse --git-dir >/dev/null 2>&1 ||
		{ gitserve__die "$1 is not a git repository"; return 1; }
}

# gitserve_daemon DIR [--push]: serve DIR with git daemon; prints
# git://127.0.0.1:PORT/NAME. With --push, git push to it is allowed too
# (receive-pack), for the central reports repository.
gitserve_daemon() {
	_gs_push=
	[ "${2:-}" = --push ] && _gs_push=--enable=receive-pack
	gitserve_deps || return 1
	gitserve__repo "$1" || return 1
	_gs_d=$(gitserve__dir) || return 1
	_gs_sd=$(mktemp -d "$_gs_d/daemon.XXXXXX") || return 1
	_gs_try=0
	while [ $_gs_try -lt 10 ]; do
		_gs_try=$((_gs_try + 1))
		_gs_port=$(gitserve__port) || return 1
		rm -f "$_gs_sd/pid"
		gitserve__spawn "$_gs_sd/log" "$(git --exec-path)/git-daemon" \
			--listen=127.0.0.1 --port="$_gs_port" --reuseaddr \
			--export-all --base-path="$_gs_base" $_gs_push \
			--informative-errors --verbose --pid-file="$_gs_sd/pid"
		if gitserve__ready "$_gs_sd/pid" "$_gs_port"; then
			echo "git://127.0.0.1:$_gs_port/$_gs_name"
			return 0
		fi
		kill -TERM "-$_gss_pid" 2>/dev/null
	done
	gitserve__die "git daemon did not start; see $_gs_sd/log"
}

# gitserve_ssh DIR: an sshd of its own on 127.0.0.1 (not the system's,
# which stays off), letting root in with a fresh key. Prints
# "ssh://root@127.0.0.1:PORT/ABS/DIR KEY KNOWN_HOSTS": the URL, the
# client's private key and a known_hosts file with the server's host key.
gitserve_ssh() {
	gitserve_deps ssh || return 1
	_gs_d=$(gitserve__dir) || return 1
	_gs_sd=$(mktemp -d "$_gs_d/ssh.XXXXXX") || return 1
	_gs_abs=$(cd "$1" && pwd) || return 1
	ssh-keygen -q -t ed25519 -N "" -f "$_gs_sd/host" >/dev/null &&
		ssh-keygen -q -t ed25519 -N "" -C client -f "$_gs_sd/client" \
			>/dev/null &&
		cp "$_gs_sd/client.pub" "$_gs_sd/authorized_keys" || return 1
	chmod 600 "$_gs_sd/authorized_keys"
	# Privilege separation wants this directory; it is empty and shared.
	[ -d /run/sshd ] || mkdir -m 0755 /run/sshd
	_gs_try=0
	while [ $_gs_try -lt 10 ]; do
		_gs_try=$((_gs_try + 1))
		_gs_port=$(gitserve__port) || return 1
		cat >"$_gs_sd/sshd_config" <<EOF_SSHD
Port $_gs_port
ListenAddress 127.0.0.1
HostKey $_gs_sd/host
PidFile $_gs_sd/pid
AuthorizedKeysFile $_gs_sd/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
EOF_SSHD
		rm -f "$_gs_sd/pid"
		gitserve__spawn "$_gs_sd/log" "$(gitserve__sbin sshd)" -D -e \
			-f "$_gs_sd/sshd_config"
		if gitserve__ready "$_gs_sd/pid" "$_gs_port"; then
			printf '[127.0.0.1]:%s %s\n' "$_gs_port" \
				"$(cut -d' ' -f1-2 "$_gs_sd/host.pub")" \
				>"$_gs_sd/known_hosts"
			echo "ssh://root@127.0.0.1:$_gs_port$_gs_abs" \
				"$_gs_sd/client" "$_gs_sd/known_hosts"
			return 0
		fi
		kill -TERM "-$_gss_pid" 2>/dev/null
	done
	gitserve__die "sshd did not start; see $_gs_sd/log"
}

gitserve__openssl() {
	openssl "$@" >>"$(gitserve__dir)/openssl.log" 2>&1 ||
		gitserve__die "openssl $1 failed; see $(gitserve__dir)/openssl.log"
}

# gitserve__mkca DIR: a CA certificate and key in DIR (once).
gitserve__mkca() {
	[ -s "$1/ca.crt" ] && return 0
	mkdir -p "$1" &&
	gitserve__openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
		-keyout "$1/ca.key" -out "$1/ca.crt" \
		-subj "/CN=congruent test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign"
}

# gitserve__mkcert CADIR NAME SAN: NAME.crt and NAME.key, signed by CADIR;
# the common name is the first name in SAN.
gitserve__mkcert() {
	[ -s "$1/$2.crt" ] && return 0
	printf '%s\n' "basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth" "subjectAltName=$3" >"$1/$2.ext" &&
	gitserve__openssl req -newkey rsa:2048 -nodes -keyout "$1/$2.key" \
		-out "$1/$2.csr" -subj "/CN=$(echo "${3#DNS:}" | cut -d, -f1)" &&
	gitserve__openssl x509 -req -in "$1/$2.csr" -CA "$1/ca.crt" \
		-CAkey "$1/ca.key" -CAcreateserial -days 2 \
		-extfile "$1/$2.ext" -out "$1/$2.crt"
}

gitserve_ca() {
	_gs_d=$(gitserve__dir) || return 1
	gitserve__mkca "$_gs_d/ca" || return 1
	echo "$_gs_d/ca/ca.crt"
}

gitserve_wrong_ca() {
	_gs_d=$(gitserve__dir) || return 1
	gitserve__mkca "$_gs_d/wrong-ca" || return 1
	echo "$_gs_d/wrong-ca/ca.crt"
}

# gitserve_https DIR [--push]: serve DIR over HTTPS; prints
# "https://localhost:PORT/NAME CAFILE". With --push, git push to it is
# allowed too (http.receivepack: no user is asked for).
gitserve_https() {
	_gs_push=false
	[ "${2:-}" = --push ] && _gs_push=true
	gitserve_deps https || return 1
	gitserve__repo "$1" || return 1
	_gs_d=$(gitserve__dir) || return 1
	_gs_ca=$(gitserve_ca) || return 1
	gitserve__mkcert "$_gs_d/ca" server "DNS:localhost,IP:127.0.0.1" ||
		return 1
	gitserve__mkcert "$_gs_d/ca" wrongname "DNS:wrong.example" || return 1
	_gs_sd=$(mktemp -d "$_gs_d/https.XXXXXX") || return 1
	chmod 755 "$_gs_sd"

	gitserve__spawn "$_gs_sd/fcgiwrap.log" "$(gitserve__sbin fcgiwrap)" \
		-c 4 -s "unix:$_gs_sd/fcgiwrap.sock"
	_gs_i=0
	while [ ! -S "$_gs_sd/fcgiwrap.sock" ] && [ $_gs_i -lt 100 ]; do
		kill -0 "$_gss_pid" 2>/dev/null || break
		sleep 0.1
		_gs_i=$((_gs_i + 1))
	done
	[ -S "$_gs_sd/fcgiwrap.sock" ] ||
		{ gitserve__die "fcgiwrap did not start; see $_gs_sd/fcgiwrap.log"; return 1; }

	_gs_try=0
	while [ $_gs_try -lt 10 ]; do
		_gs_try=$((_gs_try + 1))
		_gs_port=$(gitserve__port) || return 1
		_gs_port2=$(gitserve__port) || return 1
		[ "$_gs_port" = "$_gs_port2" ] && continue
		gitserve__nginx_conf "$_gs_sd" "$_gs_d/ca" "$_gs_base" \
			"$_gs_port" "$_gs_port2" "$_gs_push" >"$_gs_sd/nginx.conf"
		rm -f "$_gs_sd/nginx.pid"
		gitserve__spawn "$_gs_sd/nginx.log" "$(gitserve__sbin nginx)" \
			-e "$_gs_sd/error.log" -p "$_gs_sd" -c "$_gs_sd/nginx.conf"
		if gitserve__ready "$_gs_sd/nginx.pid" "$_gs_port" "$_gs_port2"; then
			echo "$_gs_port2" >"$_gs_d/wrongname.$_gs_port"
			echo "https://localhost:$_gs_port/$_gs_name $_gs_ca"
			return 0
		fi
		kill -TERM "-$_gss_pid" 2>/dev/null
	done
	gitserve__die "nginx did not start; see $_gs_sd/error.log"
}

# gitserve__nginx_conf STATEDIR CADIR BASE PORT WRONGNAMEPORT PUSH(true|false)
gitserve__nginx_conf() {
	# Workers of a root master would run as nobody, who cannot enter the
	# private state directory: keep them as the caller.
	if [ "$(id -u)" -eq 0 ]; then
		echo "user $(id -un) $(id -gn);"
	fi
	cat <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events {
	worker_connections 64;
}
http {
	access_log $1/access.log;
	client_body_temp_path $1/tmp-body;
	fastcgi_temp_path $1/tmp-fastcgi;
	proxy_temp_path $1/tmp-proxy;
	uwsgi_temp_path $1/tmp-uwsgi;
	scgi_temp_path $1/tmp-scgi;
	ssl_protocols TLSv1.2 TLSv1.3;
	server {
		listen 127.0.0.1:$4 ssl;
		server_name localhost;
		ssl_certificate $2/server.crt;
		ssl_certificate_key $2/server.key;
		include $1/git.conf;
	}
	server {
		listen 127.0.0.1:$5 ssl;
		server_name wrong.example;
		ssl_certificate $2/wrongname.crt;
		ssl_certificate_key $2/wrongname.key;
		include $1/git.conf;
	}
}
EOF
	cat >"$1/git.conf" <<EOF
location / {
	client_max_body_size 0;
	fastcgi_pass unix:$1/fcgiwrap.sock;
	fastcgi_param SCRIPT_FILENAME $(git --exec-path)/git-http-backend;
	fastcgi_param GIT_PROJECT_ROOT $3;
	fastcgi_param GIT_HTTP_EXPORT_ALL 1;
	fastcgi_param GIT_PROTOCOL \$http_git_protocol;
	fastcgi_param GIT_CONFIG_COUNT 2;
	fastcgi_param GIT_CONFIG_KEY_0 safe.directory;
	fastcgi_param GIT_CONFIG_VALUE_0 *;
	fastcgi_param GIT_CONFIG_KEY_1 http.receivepack;
	fastcgi_param GIT_CONFIG_VALUE_1 ${6:-false};
	fastcgi_param PATH_INFO \$uri;
	fastcgi_param QUERY_STRING \$query_string;
	fastcgi_param REQUEST_METHOD \$request_method;
	fastcgi_param CONTENT_TYPE \$content_type;
	fastcgi_param CONTENT_LENGTH \$content_length;
	fastcgi_param REMOTE_ADDR \$remote_addr;
}
EOF
}

# gitserve_wrongname_url URL: URL (from gitserve_https) on the port whose
# certificate names wrong.example.
gitserve_wrongname_url() {
	_gs_d=$(gitserve__dir) || return 1
	_gs_p=${1#https://localhost:}
	_gs_p=${_gs_p%%/*}
	[ -s "$_gs_d/wrongname.$_gs_p" ] ||
		{ gitserve__die "$1: not a URL from gitserve_https"; return 1; }
	echo "https://localhost:$(cat "$_gs_d/wrongname.$_gs_p")${1#https://localhost:$_gs_p}"
}
