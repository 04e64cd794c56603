"""The schools of the region's Ansible inventory: the one source of the central configs.

The inventory that deploys the boxes (deploy/ansible, see docs/FLEET.md) also says
which schools exist and who their admins are, so the central Alertmanager's routes
(deploy/alertmanager/make_site_routes.py) and the cluster's per-site write credentials
(deploy/region/cluster/make_vmauth_config.py) are generated from it, never kept apart.

A school is an inventory host with ``sentinel_site``; its admins are
``sentinel_admin_email`` (a list or one address) and its region ``sentinel_region``.
Accepted inputs:

- an Ansible YAML inventory file (hosts under groups and their ``children``, host
  variables inline, group ``vars`` inherited by the group's hosts), or a directory of
  them, read in name order as Ansible reads an inventory directory;
- the JSON that ``ansible-inventory -i INVENTORY --list`` prints (``_meta.hostvars``),
  for inventories in any other form (INI, ``host_vars/`` and ``group_vars/`` files,
  dynamic inventory plugins); ``-`` reads it from standard input.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SITE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
EMAIL = re.compile(r"[^@\s<>,;\"{}]+@[^@\s<>,;\"{}]+")


@dataclass(frozen=True)
class School:
    site: str
    emails: tuple[str, ...]
    region: str
    host: str  # the inventory host name, for messages


def _walk(
    group: dict[str, Any],
    inherited: dict[str, Any],
    group_vars: dict[str, dict[str, Any]],
    host_vars: dict[str, dict[str, Any]],
) -> None:
    """Every host of a group and its children: a child group's vars over its parent's."""
    scope = {**inherited, **(group.get("vars") or {})}
    for name, hostvars in (group.get("hosts") or {}).items():
        group_vars.setdefault(name, {}).update(scope)
        host_vars.setdefault(name, {}).update(hostvars or {})
    for child in (group.get("children") or {}).values():
        _walk(child or {}, scope, group_vars, host_vars)


def _yaml_hosts(path: Path) -> dict[str, dict[str, Any]]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml"))
    else:
        files = [path]
    if not files:
        raise ValueError(f"{path}: no .yml or .yaml inventory files")
    group_vars: dict[str, dict[str, Any]] = {}
    host_vars: dict[str, dict[str, Any]] = {}
    for f in files:
        try:
            data = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{f}: not YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{f}: not an Ansible inventory (no groups at the top)")
        for group in data.values():
            if isinstance(group, dict):
                _walk(group, {}, group_vars, host_vars)
    return {h: {**group_vars[h], **host_vars[h]} for h in host_vars}  # host vars win


def _json_hosts(text: str, where: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not JSON from ansible-inventory --list: {exc}") from None
    hostvars = (data.get("_meta") or {}).get("hostvars") if isinstance(data, dict) else None
    if not isinstance(hostvars, dict):
        raise ValueError(f"{where}: no _meta.hostvars (run ansible-inventory --list)")
    return {str(h): dict(v or {}) for h, v in hostvars.items()}


def read(source: str | Path) -> list[School]:
    """The schools of an inventory; raises ValueError naming the host that is wrong."""
    if str(source) == "-":
        hosts, where = _json_hosts(sys.stdin.read(), "<stdin>"), "<stdin>"
    else:
        path = Path(source)
        where = str(path)
        if path.suffix == ".json":
            hosts = _json_hosts(path.read_text(encoding="utf-8"), where)
        else:
            hosts = _yaml_hosts(path)
    schools: list[School] = []
    seen: dict[str, str] = {}
    for host, hv in hosts.items():
        if "sentinel_site" not in hv:
            continue
        site = str(hv["sentinel_site"])
        raw = hv.get("sentinel_admin_email") or []
        emails = [raw] if isinstance(raw, str) else [str(e).strip() for e in raw]
        if not SITE.fullmatch(site):
            raise ValueError(f"{where}: host {host}: invalid sentinel_site {site!r}")
        if site in seen:
            raise ValueError(f"{where}: host {host}: site {site!r} is also host {seen[site]}")
        if not emails or not all(EMAIL.fullmatch(e) for e in emails):
            raise ValueError(f"{where}: host {host}: invalid sentinel_admin_email for {site!r}")
        seen[site] = host
        schools.append(School(site, tuple(emails), str(hv.get("sentinel_region", "")), host))
    if not schools:
        raise ValueError(f"{where}: no host has sentinel_site")
    return sorted(schools, key=lambda s: s.site)  # the same output from every input form
