#!/usr/bin/env bash
# Install sentinel on a Debian 12 gateway from this checkout. Idempotent: a second run
# changes nothing and succeeds.
set -euo pipefail
# The service runs as a dynamic user, so everything installed must be world-readable.
umask 022

usage() {
    cat <<'EOF'
Usage: deploy/install.sh [--prefix DIR] [--enable] [--no-apt] [-h|--help]

Installs sentinel from the checkout this script lives in (run as root).

  --prefix DIR   virtual environment to create or reuse (default /opt/sentinel)
  --enable       also run 'systemctl enable --now sentinel'
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

if [[ $EUID -ne 0 ]]; then
    echo "install.sh: run as root" >&2
    exit 1
fi

repo_dir=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
unit_src=$repo_dir/deploy/systemd/sentinel.service
unit_dst=/etc/systemd/system/sentinel.service
config_src=$repo_dir/config/sentinel.yaml
config_dir=/etc/sentinel
credentials_dir=$config_dir/credentials

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
engine=$("$prefix/bin/python" -c 'from sentinel.capture.accounting import engine; print(engine())')
if [[ $engine == c ]]; then
    say "capture engine: C"
else
    say "capture engine: pure Python (no C compiler or Python headers at install time)"
fi

# 4. Command on PATH.
if [[ "$(readlink /usr/local/bin/sentinel 2>/dev/null || true)" != "$prefix/bin/sentinel" ]]; then
    say "linking /usr/local/bin/sentinel -> $prefix/bin/sentinel"
    ln -sfn "$prefix/bin/sentinel" /usr/local/bin/sentinel
fi

# 5. Unit file, rewritten only when it changed. A non-default prefix is patched in.
unit_tmp=$(mktemp)
trap 'rm -f "$unit_tmp"' EXIT
sed "s|/opt/sentinel/bin/sentinel|$prefix/bin/sentinel|g" "$unit_src" >"$unit_tmp"
if ! cmp -s "$unit_tmp" "$unit_dst"; then
    say "installing $unit_dst"
    install -D -m 0644 "$unit_tmp" "$unit_dst"
fi

# 6. Config and credentials directories; an existing config is never overwritten.
install -d -m 0755 "$config_dir"
install -d -m 0700 "$credentials_dir"
if [[ ! -e $config_dir/sentinel.yaml ]]; then
    if [[ -f $config_src ]]; then
        say "installing default config $config_dir/sentinel.yaml"
        install -m 0644 "$config_src" "$config_dir/sentinel.yaml"
    else
        echo "install.sh: warning: $config_src not found, no config installed" >&2
    fi
fi

# 7. Optional: an SNMP agent on loopback for the built-in default to poll.
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
    if [[ -d /run/systemd/system ]]; then
        systemctl restart snmpd
    else
        pkill -x snmpd 2>/dev/null || true
        sleep 0.5
        snmpd -Lsd -p /run/snmpd.pid  # listens where snmpd.conf says: loopback
    fi
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
        if [[ -d /run/systemd/system ]]; then systemctl disable --now victoria-metrics || true; fi
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
        if [[ -d /run/systemd/system ]]; then systemctl disable --now prometheus || true; fi
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
if [[ -d /run/systemd/system ]]; then
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
