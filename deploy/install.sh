#!/usr/bin/env bash
# Install sentinel on a Debian 12 gateway from this checkout. Idempotent: a second run
# changes nothing and succeeds.
set -euo pipefail
# The service runs as a dynamic user, so everything installed must be world-readable.
umask 022

usage() {
    cat <<'EOF'
Usage: deploy/install.sh [--prefix DIR] [--enable] [--no-apt] [--site ID] [--lan IFACE]
                         [--switch HOST[:PORT] ...] [--force-config] [-h|--help]

Installs sentinel from the checkout this script lives in (run as root), and writes
/etc/sentinel/sentinel.yaml for this box with `sentinel init-config`: capture and every
detector on the LAN interface, the gateway, DHCP and DNS servers it sees, this box's
snmpd if one answers, and the switch given. An existing config is kept.

  --prefix DIR   virtual environment to create or reuse (default /opt/sentinel)
  --enable       also run 'systemctl enable --now sentinel'
  --site ID      the school's id (default: the host name)
  --lan IFACE    the LAN interface (default: the up Ethernet interface that does not
                 carry the default route)
  --switch HOST[:PORT]
                 a switch to poll; with --switch-version 1|2c|3 (default 2c),
                 --switch-name NAME, --switch-user USER (v3),
                 --switch-community COMMUNITY (v1/v2c: written to
                 /etc/sentinel/credentials/snmp-community, mode 0600, if absent).
                 v3 passphrases go in /etc/sentinel/credentials/snmp-auth and
                 snmp-priv; check-config names what is missing
  --force-config replace an existing /etc/sentinel/sentinel.yaml
  --root DIR     install below DIR instead of / (staging, tests); no systemctl
  --no-apt       do not install python3, python3-venv, gcc and python3-dev with
                 apt-get (without a C compiler capture runs on the slower
                 pure-Python engine)
  --edge-agent vmagent|prometheus
                 also install the edge agent that pushes this school's metrics to
                 the region (deploy/vmagent or deploy/prometheus-agent); edit
                 /etc/default/sentinel-vmagent (site, region, URL) and put the
                 site's password in /etc/sentinel/vmagent/credentials afterwards
  --demo         also install net-snmp's snmpd answering on loopback only, so the
                 built-in default polls this box's own interfaces over SNMP as it
                 would a school switch (community "sentinel-local", read-only)
  -h, --help     show this help
EOF
}

prefix=/opt/sentinel
enable=0
use_apt=1
demo=0
edge_agent=""
root=""
force_config=0
init_args=()
community=""

need_value() {  # OPTION VALUE...
    [[ $# -ge 2 && -n "$2" ]] || { echo "install.sh: $1 needs a value" >&2; exit 2; }
}

while (($# > 0)); do
    case "$1" in
        --prefix)
            [[ $# -ge 2 && -n "$2" ]] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }
            prefix=$2
            shift 2
            ;;
        --prefix=*)
            prefix=${1#--prefix=}
            [[ -n "$prefix" ]] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }
            shift
            ;;
        --enable) enable=1; shift ;;
        --site | --lan | --switch | --switch-name | --switch-version | --switch-user)
            need_value "$@"
            init_args+=("$1" "$2")
            shift 2
            ;;
        --switch-community) need_value "$@"; community=$2; shift 2 ;;
        --force-config) force_config=1; shift ;;
        --root) need_value "$@"; root=${2%/}; shift 2 ;;
        --no-apt) use_apt=0; shift ;;
        --demo) demo=1; shift ;;
        --edge-agent)
            [[ $# -ge 2 && ( "$2" == vmagent || "$2" == prometheus ) ]] ||
                { echo "install.sh: --edge-agent needs vmagent or prometheus" >&2; exit 2; }
            edge_agent=$2
            shift 2
            ;;
        -h | --help) usage; exit 0 ;;
        *) echo "install.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done

if [[ -n $root ]] && ((demo)) || [[ -n $root && -n $edge_agent ]]; then
    echo "install.sh: --root installs sentinel only (no --demo, no --edge-agent)" >&2
    exit 2
fi

if [[ $EUID -ne 0 ]]; then
    echo "install.sh: run as root" >&2
    exit 1
fi

repo_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
unit_src=$repo_dir/deploy/systemd/sentinel.service
unit_dst=$root/etc/systemd/system/sentinel.service
config_dir=$root/etc/sentinel
credentials_dir=$config_dir/credentials
bin_link=$root/usr/local/bin/sentinel
# systemd is managed only when installing into this system.
if [[ -z $root && -d /run/systemd/system ]]; then systemd=1; else systemd=0; fi

say() { echo "==> $*"; }

# 1. Packages: python3 and its venv module, and what builds the C capture engine (a
# compiler and the Python headers), only when missing.
if ((use_apt)); then
    missing=()
    for pkg in python3 python3-venv gcc libc6-dev python3-dev; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} > 0)); then
        say "installing ${missing[*]}"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    else
        say "python3, python3-venv, gcc and python3-dev already installed"
    fi
fi

if [[ -x /usr/bin/python3 ]]; then
    python=/usr/bin/python3
else
    python=$(command -v python3) || { echo "install.sh: python3 not found" >&2; exit 1; }
fi

# 2. Virtual environment, reused when it already exists.
if [[ -x $prefix/bin/python ]]; then
    say "reusing virtual environment $prefix"
else
    say "creating virtual environment $prefix"
    "$python" -m venv "$prefix"
fi

# 3. The package itself, pinned by constraints.txt when the checkout has one.
pip_args=(--quiet --disable-pip-version-check --no-input)
if [[ -f $repo_dir/constraints.txt ]]; then
    pip_args+=(-c "$repo_dir/constraints.txt")
fi
say "installing sentinel from $repo_dir"
target=$repo_dir
((demo)) && target="$repo_dir[demo]"   # `sentinel demo`: snmpsim and its recordings
"$prefix/bin/python" -m pip install "${pip_args[@]}" "$target"
# Ask the installed package, not the checkout: from the checkout's directory a plain
# `python -c` would import ./sentinel (no compiled engine in a fresh clone). -I keeps the
# working directory and PYTHON* variables out of sys.path; SENTINEL_NO_EXTENSIONS too.
engine=$(cd / && env -u SENTINEL_NO_EXTENSIONS "$prefix/bin/python" -I -c \
    'from sentinel.capture.accounting import engine; print(engine())')
if [[ $engine == c ]]; then
    say "capture engine: C (sentinel/capture/_fastpath.c, built)"
elif command -v gcc >/dev/null 2>&1; then
    say "capture engine: pure Python (the C engine did not build; see pip's output with -v)"
else
    say "capture engine: pure Python (no C compiler at install time; drop --no-apt)"
fi

# 4. Command on PATH.
if [[ "$(readlink "$bin_link" 2>/dev/null || true)" != "$prefix/bin/sentinel" ]]; then
    say "linking $bin_link -> $prefix/bin/sentinel"
    install -d -m 0755 "$(dirname "$bin_link")"
    ln -sfn "$prefix/bin/sentinel" "$bin_link"
fi

# 5. Unit file, rewritten only when it changed. A non-default prefix is patched in.
unit_tmp=$(mktemp)
trap 'rm -f "$unit_tmp"' EXIT
sed "s|/opt/sentinel/bin/sentinel|$prefix/bin/sentinel|g" "$unit_src" >"$unit_tmp"
if ! cmp -s "$unit_tmp" "$unit_dst"; then
    say "installing $unit_dst"
    install -D -m 0644 "$unit_tmp" "$unit_dst"
fi

# 6. Optional: an SNMP agent on loopback for the built-in default (and the config) to poll.
if ((demo)); then
    if ! command -v snmpd >/dev/null 2>&1; then
        ((use_apt)) || { echo "install.sh: --demo needs snmpd (drop --no-apt)" >&2; exit 1; }
        say "installing snmpd"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q snmpd
    fi
    demo_conf=/etc/snmp/snmpd.conf.d/sentinel-demo.conf
    demo_text='# Installed by sentinel'"'"'s deploy/install.sh --demo: this box'"'"'s interfaces,
# read-only, on loopback only, for sentinel'"'"'s built-in default to poll.
view sentinelif included .1.3.6.1.2.1.1
view sentinelif included .1.3.6.1.2.1.2
view sentinelif included .1.3.6.1.2.1.31.1.1
rocommunity sentinel-local 127.0.0.1 -V sentinelif'
    install -d -m 0755 /etc/snmp/snmpd.conf.d
    if [[ "$(cat "$demo_conf" 2>/dev/null || true)" != "$demo_text" ]]; then
        say "configuring snmpd on loopback ($demo_conf)"
        printf '%s\n' "$demo_text" >"$demo_conf"
    fi
    if ((systemd)); then
        systemctl restart snmpd
    elif [[ -z $root ]]; then
        # Without systemd: restart only the snmpd this script started (its PID file),
        # never another one found by name.
        pid_file=/run/sentinel-demo-snmpd.pid
        old=$(cat "$pid_file" 2>/dev/null || true)
        if [[ $old =~ ^[0-9]+$ && "$(cat "/proc/$old/comm" 2>/dev/null || true)" == snmpd ]]; then
            kill "$old"
            for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -d /proc/$old ]] || break; sleep 0.2; done
        fi
        if pidof snmpd >/dev/null 2>&1; then  # only looked up, never signalled
            echo "install.sh: an snmpd not started by this script is running; restart it to" \
                "load $demo_conf" >&2
        else
            snmpd -Lsd -p "$pid_file"  # listens where snmpd.conf says: loopback
            for _ in 1 2 3 4 5 6 7 8 9 10; do [[ -s $pid_file ]] && break; sleep 0.2; done
        fi
    fi
fi

# 7. Config and credentials: the credentials directory (0700, root) with a generated site
# key (0600), and a config for this box from `sentinel init-config`; an existing config is
# kept unless --force-config.
install -d -m 0755 "$config_dir"
install -d -m 0700 -o root -g root "$credentials_dir"
if [[ -n $community && ! -e $credentials_dir/snmp-community ]]; then
    say "writing $credentials_dir/snmp-community"
    (umask 077 && printf '%s\n' "$community" >"$credentials_dir/snmp-community")
fi
init=("$prefix/bin/sentinel" init-config --output "$config_dir/sentinel.yaml"
      --credentials-dir "$credentials_dir" "${init_args[@]}")
if ((force_config)); then init+=(--force); fi
"${init[@]}"
if "$prefix/bin/sentinel" check-config --credentials-dir "$credentials_dir" \
        "$config_dir/sentinel.yaml"; then
    say "config checked: $config_dir/sentinel.yaml"
else
    echo "install.sh: fix the lines above (credentials go in $credentials_dir), then:" \
        "sentinel check-config $config_dir/sentinel.yaml" >&2
fi

# 8. Optional: the edge agent that scrapes sentinel on loopback and pushes to the region.
install_if_changed() {  # SRC DST MODE
    if ! cmp -s "$1" "$2"; then
        say "installing $2"
        install -D -m "$3" "$1" "$2"
    fi
}
if [[ $edge_agent == vmagent ]]; then
    if ! command -v vmagent >/dev/null 2>&1; then
        ((use_apt)) || { echo "install.sh: vmagent missing (drop --no-apt)" >&2; exit 1; }
        say "installing victoria-metrics (for vmagent)"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q victoria-metrics
        # Only vmagent is used on a school's box: keep the packaged server off.
        if ((systemd)); then systemctl disable --now victoria-metrics || true; fi
    fi
    install -d -m 0755 /etc/sentinel/vmagent
    install -d -m 0700 /etc/sentinel/vmagent/credentials
    install_if_changed "$repo_dir/deploy/vmagent/scrape.yml" /etc/sentinel/vmagent/scrape.yml 0644
    install_if_changed "$repo_dir/deploy/vmagent/sentinel-vmagent.service" \
        /etc/systemd/system/sentinel-vmagent.service 0644
    if [[ ! -e /etc/default/sentinel-vmagent ]]; then
        install -m 0644 "$repo_dir/deploy/vmagent/sentinel-vmagent.default" /etc/default/sentinel-vmagent
        echo "install.sh: edit /etc/default/sentinel-vmagent (site, region, remote-write URL)"
    fi
elif [[ $edge_agent == prometheus ]]; then
    if ! command -v prometheus >/dev/null 2>&1; then
        ((use_apt)) || { echo "install.sh: prometheus missing (drop --no-apt)" >&2; exit 1; }
        say "installing prometheus (agent mode)"
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus
        if ((systemd)); then systemctl disable --now prometheus || true; fi
    fi
    install -d -m 0755 /etc/sentinel/prometheus-agent
    install -d -m 0700 /etc/sentinel/prometheus-agent/credentials
    install_if_changed "$repo_dir/deploy/prometheus-agent/prometheus-agent.yml" \
        /etc/sentinel/prometheus-agent/prometheus-agent.yml 0644
    install_if_changed "$repo_dir/deploy/prometheus-agent/sentinel-prometheus-agent.service" \
        /etc/systemd/system/sentinel-prometheus-agent.service 0644
    if [[ ! -e /etc/default/sentinel-vmagent ]]; then  # site and region, shared by both agents
        install -m 0644 "$repo_dir/deploy/vmagent/sentinel-vmagent.default" /etc/default/sentinel-vmagent
    fi
    echo "install.sh: edit /etc/default/sentinel-vmagent (site, region) and the remote-write URL"
fi

# 9. systemd, when it is the init system here.
if ((systemd)); then
    say "reloading systemd units"
    systemctl daemon-reload
    if ((enable)); then
        say "enabling and starting sentinel"
        systemctl enable --now sentinel
    fi
else
    echo "systemd is not running here; start the daemon with: sentinel run --config $config_dir/sentinel.yaml"
fi

say "done"
