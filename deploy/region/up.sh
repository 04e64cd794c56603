#!/usr/bin/env bash
# The region on one machine, on loopback, fed by the demo school (as root, from a checkout):
#
#   VictoriaMetrics      http://127.0.0.1:8428   the regional store
#   vmalert              http://127.0.0.1:8880   deploy/rules/*.rules.yml
#   Alertmanager         http://127.0.0.1:9093   deploy/alertmanager routing, receivers as
#                                                webhooks to the demo page (no mail leaves)
#   vmagent              http://127.0.0.1:8429   deploy/vmagent/scrape.yml, pushing the demo
#   sentinel (demo)      http://127.0.0.1:9717/metrics, page http://127.0.0.1:9718/
#
# It runs `sentinel demo --region` in the foreground; Ctrl-C stops everything and removes
# what it made. Extra arguments go to `sentinel demo` (e.g. --region-free-ports,
# --duration 600). Grafana: see deploy/region/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ "$(id -u)" -ne 0 ]; then
  echo "deploy/region/up.sh: run as root (the demo makes a network namespace and captures)" >&2
  exit 1
fi
missing=()
for tool in victoria-metrics vmalert vmagent prometheus-alertmanager ip; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "deploy/region/up.sh: missing ${missing[*]}:" \
    "apt-get install victoria-metrics prometheus-alertmanager iproute2" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -c 'import snmpsim_data, sentinel' 2>/dev/null ||
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[demo]'
exec .venv/bin/python -m sentinel demo --region "$@"
