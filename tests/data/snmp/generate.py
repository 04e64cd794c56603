"""Write the SNMP fault recordings of this folder (snmpsim .snmprec): ``python generate.py``.

- ``switch``: a 3-port access switch, up 41 days, every value static (snmpsim serves it
  as recorded); port 3 has only 32-bit counters, as management ports often do.
- ``rebooted``: the same switch 15 s after a reboot: sysUpTime 15 s, counters small, except
  port 2 whose counter holds more than its link could carry in 15 s.
- ``renumbered``: the same ports under other ifIndexes (1001-1003), as after a stack
  member is added or a firmware upgrade renumbers them.
- ``hostile``: strings an attacker can set (ifAlias via a port description, sysName):
  newlines that forge log lines, quotes, ANSI escapes, U+202E, NUL, invalid UTF-8, 10 kB.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
SYS = "1.3.6.1.2.1.1"
IF = "1.3.6.1.2.1.2.2.1"
IFX = "1.3.6.1.2.1.31.1.1.1"
GBIT = 1_000_000_000

Port = tuple[
    int, bytes, bytes, bytes, int, int | None, int
]  # ifIndex descr name alias speed hc in32


def ports(base: int, hc: tuple[int, int, int], in32: int) -> list[Port]:
    return [
        (
            base + 1,
            b"GigabitEthernet1/0/1",
            b"Gi1/0/1",
            b"classroom 12",
            GBIT,
            hc[0],
            hc[0] % 2**32,
        ),
        (base + 2, b"GigabitEthernet1/0/2", b"Gi1/0/2", b"uplink core", GBIT, hc[1], hc[1] % 2**32),
        (base + 3, b"FastEthernet0", b"Fa0", b"", 10_000_000, None, in32),
    ]


def octets(value: bytes) -> str:
    """An OCTET STRING record value, hex when it is not plain printable ASCII."""
    if all(0x20 <= b < 0x7F and b != ord("|") for b in value):
        return f"4|{value.decode()}"
    return f"4x|{value.hex()}"


def oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split("."))


def recording(uptime: int, sysname: bytes, rows: list[Port]) -> str:
    rec: dict[str, str] = {
        f"{SYS}.1.0": octets(b"Fault test switch"),
        f"{SYS}.2.0": "6|1.3.6.1.4.1.9.1.1208",
        f"{SYS}.3.0": f"67|{uptime}",
        f"{SYS}.5.0": octets(sysname),
        "1.3.6.1.2.1.2.1.0": f"2|{len(rows)}",
    }
    for i, descr, name, alias, speed, hc, in32 in rows:
        rec[f"{IF}.1.{i}"] = f"2|{i}"
        rec[f"{IF}.2.{i}"] = octets(descr)
        rec[f"{IF}.3.{i}"] = "2|6"
        rec[f"{IF}.5.{i}"] = f"66|{min(speed, 2**32 - 1)}"
        rec[f"{IF}.7.{i}"] = "2|1"
        rec[f"{IF}.8.{i}"] = "2|1"
        rec[f"{IF}.10.{i}"] = f"65|{in32}"
        rec[f"{IF}.16.{i}"] = f"65|{in32 // 2}"
        rec[f"{IFX}.1.{i}"] = octets(name)
        if hc is not None:
            rec[f"{IFX}.6.{i}"] = f"70|{hc}"
            rec[f"{IFX}.10.{i}"] = f"70|{hc // 2}"
        rec[f"{IFX}.15.{i}"] = f"66|{speed // 1_000_000}"
        rec[f"{IFX}.18.{i}"] = octets(alias)
        rec[f"{IFX}.19.{i}"] = "67|0"
    rec["1.3.6.1.2.1.47.1.1.1.1.2.1"] = octets(b"end of the served subtrees")
    return "".join(f"{oid}|{rec[oid]}\n" for oid in sorted(rec, key=oid_key))


HOSTILE_ALIAS = (
    b'lab"}\nlevel=error msg="FORGED admin logged in" x="\r\x1b[31mred\x1b[0m\x00\xff\xfe'
    + "\u2028level=error\u202etxt.exe".encode()
)
HOSTILE: list[Port] = [
    (1, b"Gi1/0/1\nlevel=error msg=FORGED", b"Gi1/0/1\t\x07", HOSTILE_ALIAS, GBIT, 10, 10),
    (2, b"x" * 10_000, b"y" * 10_000, "é".encode() * 5_000, GBIT, 20, 20),
]


def main() -> None:
    up = 41 * 86400 * 100
    (HERE / "switch.snmprec").write_text(
        recording(up, b"access-1", ports(0, (5 * 10**11, 7 * 10**11), 3_000_000_000))
    )
    (HERE / "rebooted.snmprec").write_text(
        recording(1500, b"access-1", ports(0, (1_000, 900 * 10**9), 2_000))
    )
    (HERE / "renumbered.snmprec").write_text(
        recording(up, b"access-1", ports(1000, (5 * 10**11, 7 * 10**11), 3_000_000_000))
    )
    (HERE / "hostile.snmprec").write_text(
        recording(up, b"sw\r\nlevel=error msg=FORGED\x1b]0;pwned\x07", HOSTILE)
    )


if __name__ == "__main__":
    main()
