import builtins

# The C accounting engine (_fastpath.c); accounting.Accounting is its Python reference.

class Core:
    device_table_full: int
    detector_frames: int
    detector_frames_dropped: int
    detector_frames_aggregated: int
    answers_quiet: int
    @property
    def packets(self) -> list[int]: ...
    @property
    def bytes(self) -> list[int]: ...
    @property
    def malformed(self) -> dict[str, int]: ...
    def __init__(
        self,
        v4: list[tuple[int, int]],
        v6: list[tuple[int, int, int, int]],
        device_cap: int = ...,
        window: float = ...,
        detector_cap: int = ...,
        detector_rate: int = ...,
        talker_slots: int = ...,
    ) -> None: ...
    def frame(self, f: builtins.bytes | memoryview, wirelen: int, ts: float) -> None: ...
    def pcap(
        self, view: memoryview, off: int, end: int, big_endian: bool, unit: float, limit: int
    ) -> tuple[int, int, bool]: ...
    def ring_block(self, view: memoryview, base: int, block_size: int) -> int: ...
    def detector_batch(self) -> list[tuple[float, int, builtins.bytes]]: ...
    def mac_aggregates(self) -> list[tuple[int, int, int]]: ...
    def quiet_answers(self, resolvers: object) -> None: ...
    def udp_aggregates(
        self, final: bool = ...
    ) -> list[
        tuple[
            int,
            builtins.bytes,
            int,
            int,
            tuple[tuple[builtins.bytes, builtins.bytes, int], ...],
            int,
            tuple[int, ...],
            tuple[int, ...],
            bool,
            tuple[tuple[builtins.bytes, builtins.bytes, tuple[int, ...]], ...],
            tuple[int, ...],
        ]
    ]: ...
    def udp_spread(
        self, final: bool = ...
    ) -> list[
        tuple[
            int,
            builtins.bytes,
            builtins.bytes,
            builtins.bytes,
            tuple[tuple[int, int], ...],
            tuple[int, ...],
        ]
    ]: ...
    def aggregates(
        self,
    ) -> list[
        tuple[
            int,
            builtins.bytes,
            int,
            int,
            tuple[tuple[builtins.bytes, builtins.bytes, int], ...],
            int,
        ]
    ]: ...
    def active(self) -> tuple[int, int]: ...
    def talker_items(self) -> list[tuple[int, int]]: ...
