#!/usr/bin/env python3
"""Generate vmauth's config for the region's VictoriaMetrics cluster from the inventory.

Usage: make_vmauth_config.py INVENTORY passwords.csv vmauth.yml
           [--insert URL ...] [--select URL ...] [--readers readers.csv]

Every school writes with its own credentials (user = site id, as in
/etc/default/sentinel-vmagent); vmauth sends its /api/v1/write to the vminsert nodes
(`/insert/0/prometheus/`), with `extra_label=site=<id>` so that a school can only write
series of its own site. Readers (Grafana, vmalert; `name,password` in readers.csv) get
the query API, proxied to the vmselect nodes (`/select/0/prometheus/`), and vmalert also
writes its recorded series. The URL shape stays the single node's: `<base>/api/v1/write`
and `<base>/api/v1/query`, so edge agents, rules and dashboards do not change.

passwords.csv (`site,password`, mode 0600) keeps each school's password; a site without
one gets a new random password, appended to the file (hand it to that school's box as
its remote-write secret).
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import inventory  # deploy/inventory.py: the schools, as make_site_routes.py reads them

QUERY_PATHS = [
    "/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
    "/api/v1/label/[^/]+/values", "/api/v1/status/.*", "/api/v1/metadata",
    "/api/v1/query_exemplars", "/api/v1/rules", "/api/v1/alerts",
]  # fmt: skip
WRITE_PATHS = ["/api/v1/write"]


def sites(source: str) -> list[str]:
    """The site ids of the region's inventory (deploy/inventory.py)."""
    return [s.site for s in inventory.read(source)]


def passwords(path: Path, names: list[str]) -> dict[str, str]:
    """The stored password of each name; new ones are generated and appended."""
    known: dict[str, str] = {}
    if path.exists():
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                known[row["site"]] = row["password"]
    new = [n for n in names if n not in known]
    if new:
        fresh = not path.exists()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            if fresh:
                w.writerow(["site", "password"])
            for n in new:
                known[n] = secrets.token_urlsafe(24)
                w.writerow([n, known[n]])
    return known


def prefixes(urls: list[str], path: str, query: str = "") -> list[str]:
    return [u.rstrip("/") + path + query for u in urls]


def config(
    site_ids: list[str],
    site_passwords: dict[str, str],
    readers: dict[str, str],
    insert: list[str],
    select: list[str],
) -> dict[str, object]:
    users: list[dict[str, object]] = []
    for site in site_ids:
        users.append(  # noqa: PERF401
            {
                "username": site,
                "password": site_passwords[site],
                "url_map": [
                    {
                        "src_paths": list(WRITE_PATHS),
                        "url_prefix": prefixes(
                            insert, "/insert/0/prometheus/", f"?extra_label=site={site}"
                        ),
                    }
                ],
            }
        )
    for name, password in readers.items():
        users.append(
            {
                "username": name,
                "password": password,
                "url_map": [
                    {
                        "src_paths": list(QUERY_PATHS),
                        "url_prefix": prefixes(select, "/select/0/prometheus/"),
                    },
                    {
                        "src_paths": list(WRITE_PATHS),
                        "url_prefix": prefixes(insert, "/insert/0/prometheus/"),
                    },
                ],
            }
        )
    return {"users": users}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inventory", help="the Ansible inventory (file, directory, JSON or -)")
    ap.add_argument("passwords", type=Path)
    ap.add_argument("output", type=Path)
    ap.add_argument(
        "--insert", nargs="+", default=["http://vminsert-1:8480", "http://vminsert-2:8480"]
    )
    ap.add_argument(
        "--select", nargs="+", default=["http://vmselect-1:8481", "http://vmselect-2:8481"]
    )
    ap.add_argument("--readers", type=Path, help="name,password of Grafana and vmalert")
    args = ap.parse_args(argv)
    try:
        site_ids = sites(args.inventory)
        readers: dict[str, str] = {}
        if args.readers:
            with args.readers.open(newline="", encoding="utf-8") as f:
                readers = {r["name"]: r["password"] for r in csv.DictReader(f)}
        clash = set(readers) & set(site_ids)
        if clash:
            raise ValueError(f"reader names equal to site ids: {sorted(clash)}")
        site_passwords = passwords(args.passwords, site_ids)
    except (OSError, ValueError, KeyError) as exc:
        print(f"make_vmauth_config: {exc}", file=sys.stderr)
        return 2
    text = "# Generated by make_vmauth_config.py. Do not edit.\n" + yaml.safe_dump(
        config(site_ids, site_passwords, readers, args.insert, args.select), sort_keys=False
    )
    fd = os.open(args.output.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    args.output.with_suffix(".tmp").replace(args.output)
    print(f"make_vmauth_config: {len(site_ids)} sites, {len(readers)} readers -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
