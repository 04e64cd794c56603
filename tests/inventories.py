"""Ansible inventories of many schools, as a region keeps them (canary group, then waves)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


def write(path: Path, schools: Sequence[tuple[str, Sequence[str]]], wave: int = 500) -> Path:
    """``schools``: (site, admin addresses); the first one is the canary, then waves."""
    groups: dict[str, dict[str, object]] = {}
    for i, (site, emails) in enumerate(schools):
        group = "canary" if i == 0 else f"wave{(i - 1) // wave + 1}"
        hosts = groups.setdefault(group, {"hosts": {}})["hosts"]
        assert isinstance(hosts, dict)
        hosts[site] = {
            "sentinel_site": site,
            "sentinel_region": f"region-{i % 5}",
            "sentinel_lan_interface": "lan0",
            "sentinel_admin_email": list(emails),
        }
    data = {"all": {"children": {"schools": {"children": groups}}}}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path
