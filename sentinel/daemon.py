"""The daemon: builds everything from the config, owns every task in one TaskGroup."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sentinel import __version__, local, logsetup, privileges
from sentinel.alerting import Router
from sentinel.capture import supervisor as capture
from sentinel.capture.pipeline import Settings as CaptureSettings
from sentinel.conditions import Conditions
from sentinel.config import Config, HostPort, WebConfig, load_config, load_web_config
from sentinel.detect.registry import detector_classes
from sentinel.errors import ConfigError
from sentinel.l2.service import L2Service
from sentinel.metrics import Metrics
from sentinel.model import Alert, Severity
from sentinel.privacy import Pseudonymiser, default_state_dir, site_key
from sentinel.privileges import cap_net_raw
from sentinel.probes.service import ProbeService
from sentinel.sdnotify import Notifier, watchdog_loop
from sentinel.snmp import state as snmp_state
from sentinel.snmp.client import SnmpClient
from sentinel.snmp.poller import SwitchPoller
from sentinel.snmp.schedule import run_switch
from sentinel.supervise import Health, supervise
from sentinel.web import WebServer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from sentinel.alerting.outbox import Outbox
    from sentinel.model import ProbeResult

log = logsetup.get(__name__)

# Shutdown stages, in order: what produces data stops before what serves it.
STAGE_SOURCES = 0  # capture, pollers, samplers
STAGE_SINKS = 1  # alert delivery (flushes within the deadline)
STAGE_SERVICE = 2  # reload handler, watchdog, state saver
STATE_SAVE_INTERVAL = 300.0


@dataclass(slots=True)
class _Task:
    name: str
    stage: int
    task: asyncio.Task[None]
    key: object  # the config slice the task was built from; a change restarts it


class Daemon:
    """One running sentinel. ``run()`` returns the process exit code."""

    def __init__(
        self,
        config: Config,
        *,
        config_path: Path | None = None,
        listen: HostPort | None = None,
        metrics: Metrics | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path
        self.listen_override = listen
        self.metrics = metrics if metrics is not None else Metrics()
        self.notifier = notifier if notifier is not None else Notifier.from_env()
        self.web = WebServer(self.metrics, ready=lambda: self.ready)
        self.ready = False
        self.pseudonymise: Pseudonymiser | None = None
        self.site_key = b""
        self._tasks: dict[str, _Task] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._snmp: SnmpClient | None = None
        self._snmp_slots: asyncio.Semaphore | None = None
        self._pollers: dict[str, SwitchPoller] = {}
        self.l2: L2Service | None = None
        self._lan_totals = capture.Totals()
        self.router: Router | None = None
        self.conditions = Conditions(self.submit, lambda: self.config.site)
        self.probes = ProbeService(self.metrics, config.probes.icmp.socket)
        self._saved_counters: dict[str, dict[str, Any]] = {}
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self.privileges = privileges.Outcome(None, False, "not started")
        self.reloads = 0  # completed reload attempts, good or bad (for tests and logs)

    # -- signals -----------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    def _install_signals(self) -> Callable[[], None]:
        loop = asyncio.get_running_loop()
        handlers = {
            signal.SIGTERM: self.request_stop,
            signal.SIGINT: self.request_stop,
            signal.SIGHUP: self.request_reload,
        }
        for sig, fn in handlers.items():
            loop.add_signal_handler(sig, fn)

        def remove() -> None:
            for sig in handlers:
                loop.remove_signal_handler(sig)

        return remove

    # -- lifecycle ---------------------------------------------------------------------

    async def run(self) -> int:
        remove_signals = self._install_signals()
        try:
            return await self._run()
        finally:
            remove_signals()

    async def _run(self) -> int:
        cfg = self.config
        try:
            web_cfg = self._web_config(cfg)
            self._state(cfg)
        except (ConfigError, OSError, ValueError) as exc:
            log.error("cannot start", error=exc)
            return 1
        # Before any thread exists (capabilities are per thread): see sentinel.privileges.
        self.privileges = privileges.settle(cfg.probes.icmp.socket)
        log.info(
            "CAP_NET_RAW",
            state="dropped" if self.privileges.dropped else "kept",
            why=self.privileges.why,
            capture_socket="made" if self.privileges.capture_socket is not None else "none",
        )
        listen = self.listen_override or cfg.listen
        self._wire_probe_endpoint(cfg)
        try:
            await self.web.start(listen, web_cfg)
        except OSError as exc:
            log.error("cannot listen", address=str(listen), error=exc.strerror or exc)
            return 1
        try:
            self._saved_counters = snmp_state.load(self.state_dir / snmp_state.FILE)
            self.l2 = L2Service(self.metrics, self.state_dir, self.site_key, cfg)
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._start_router(cfg)
                # The config just loaded: a failed reload before a restart is over.
                assert self.router is not None
                if any(
                    a.detector == "sentinel_config_reload_failed"
                    for a in self.router.outbox.active()
                ):
                    self.conditions.cleared("config_reload_failed", Severity.WARNING)
                self._start_sources(cfg)
                self._spawn("state", STAGE_SERVICE, None, self._save_loop)
                self._spawn("reload", STAGE_SERVICE, None, self._reload_loop)
                self._spawn("watchdog", STAGE_SERVICE, None, self._watchdog)
                self._record_reload(ok=True)
                self.ready = True
                self._announce(cfg, listen, web_cfg)
                self.notifier.ready(f"serving metrics on {listen}")
                await self._stop.wait()
                await self._shutdown(cfg.shutdown_timeout)
        finally:
            self._tg = None
            if self._snmp is not None:
                self._snmp.close()
            self.probes.close()
            if self.privileges.capture_socket is not None:
                self.privileges.capture_socket.close()
            if self.router is not None:
                await self.router.close()
            await self.web.stop()
            log.info("stopped")
        return 0

    async def _shutdown(self, deadline: float) -> None:
        log.info("stopping", deadline_s=deadline)
        self.ready = False
        self.notifier.stopping()
        end = time.monotonic() + deadline
        for stage in (STAGE_SOURCES, STAGE_SINKS, STAGE_SERVICE):
            group = [t for t in self._tasks.values() if t.stage == stage]
            for t in group:
                t.task.cancel()
            if group:
                remaining = max(0.0, end - time.monotonic())
                _, pending = await asyncio.wait([t.task for t in group], timeout=remaining)
                for t in group:
                    if t.task in pending:
                        log.error("task did not stop before the deadline", task=t.name)
                    else:
                        log.info("stopped task", task=t.name)
                    self._tasks.pop(t.name, None)
            if stage == STAGE_SOURCES:
                self._save_counters()
                if self.l2 is not None:
                    self.l2.save()
                if self.router is not None:  # deliver what the sources left, within the deadline
                    loop = asyncio.get_running_loop()
                    await self.router.flush(loop.time() + max(0.0, end - time.monotonic()) / 2)
        await self.web.stop()
        log.info("stopped web server")

    # -- tasks -------------------------------------------------------------------------

    def _spawn(
        self, name: str, stage: int, key: object, loop: Callable[[Health], Awaitable[None]]
    ) -> None:
        assert self._tg is not None
        task = self._tg.create_task(
            supervise(name, loop, self.metrics, on_change=self.conditions.task_changed), name=name
        )
        self._tasks[name] = _Task(name, stage, task, key)

    async def _cancel(self, name: str) -> None:
        if name.startswith("snmp:"):
            old = self._pollers.pop(name.removeprefix("snmp:"), None)
            if old is not None and old.prev_ticks is not None and old.last_success is not None:
                # A reload that restarts this switch's poller keeps its totals going.
                self._saved_counters[old.cfg.name] = snmp_state.snapshot(old)
        t = self._tasks.pop(name, None)
        if t is not None:
            t.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t.task

    def _wanted_sources(self, cfg: Config) -> dict[str, object]:
        """Task name -> the config slice it runs on."""
        wanted: dict[str, object] = {}
        if cfg.local.enabled:
            wanted["local"] = cfg.local
        c = cfg.capture
        if c.interface:
            wanted["capture"] = CaptureSettings(
                interface=c.interface,
                networks=c.networks,
                ring_size_mb=c.ring_size_mb,
                snaplen=c.snaplen,
                header_snaplen=c.header_snaplen,
                promiscuous=c.promiscuous,
                device_window=c.device_window,
                max_devices=c.max_devices,
                detect=cfg.detect,
                site_key=self.site_key,
                pseudonymise=cfg.privacy.pseudonymise,
                evidence_dir=str(self.state_dir / "evidence"),
            )
        for sw in cfg.snmp.switches:
            resolved = cfg.snmp.resolve(sw)
            if not cfg.privacy.interface_descriptions:
                resolved = dataclasses.replace(resolved, export_alias=False)
            wanted[f"snmp:{sw.name}"] = resolved
            if cfg.l2.enabled:
                wanted[f"l2:{sw.name}"] = resolved
        if cfg.l2.enabled and cfg.snmp.discover:
            wanted["l2:discover"] = cfg.snmp
        wanted.update(self.probes.wanted(cfg))
        return wanted

    def _start_source(self, name: str, key: object, cfg: Config) -> None:
        if name == "local":
            local_cfg = cfg.local
            self._spawn(name, STAGE_SOURCES, key, lambda h: local.run(h, local_cfg, self.metrics))
            return
        if name.startswith("probe:") or name == "verdict":
            self._spawn(name, STAGE_SOURCES, key, self.probes.task(key))
            return
        if name == "capture":
            settings: CaptureSettings = key  # type: ignore[assignment]
            self._spawn(
                name,
                STAGE_SOURCES,
                key,
                lambda h: capture.run(
                    h,
                    settings,
                    self.metrics,
                    self._lan_totals,
                    on_alert=self._detected,
                    on_census=self.l2.capture_seen if self.l2 else None,
                    capture=self.privileges.capture_socket,
                ),
            )
            return
        if self._snmp is None:
            self._snmp = SnmpClient()
        if self._snmp_slots is None:
            self._snmp_slots = asyncio.Semaphore(cfg.snmp.max_in_flight)
        if name.startswith("l2:"):
            assert self.l2 is not None
            loop = (
                self.l2.discover_loop(key, self._snmp, self._snmp_slots)  # type: ignore[arg-type]
                if name == "l2:discover"
                else self.l2.loop(key, self._snmp, self._snmp_slots)  # type: ignore[arg-type]
            )
            self._spawn(name, STAGE_SOURCES, key, loop)
            return
        poller = SwitchPoller(key, self._snmp, semaphore=self._snmp_slots)  # type: ignore[arg-type]
        saved = self._saved_counters.pop(poller.cfg.name, None)
        if saved is not None and snmp_state.restore(poller, saved):
            log.debug("counter state restored", switch=poller.cfg.name)
        self._pollers[poller.cfg.name] = poller
        self._spawn(name, STAGE_SOURCES, key, lambda h: run_switch(h, poller, self.metrics))

    def _start_sources(self, cfg: Config) -> None:
        for name, key in self._wanted_sources(cfg).items():
            self._start_source(name, key, cfg)

    async def _apply_sources(self, cfg: Config) -> None:
        """Restart exactly the tasks whose config slice changed; start new, stop removed."""
        if cfg.snmp.max_in_flight != self.config.snmp.max_in_flight:
            self._snmp_slots = asyncio.Semaphore(cfg.snmp.max_in_flight)
            for t in [t for t in self._tasks.values() if t.name.startswith(("snmp:", "l2:"))]:
                await self._cancel(t.name)
        wanted = self._wanted_sources(cfg)
        running = [t for t in self._tasks.values() if t.stage == STAGE_SOURCES]
        for t in running:
            if wanted.get(t.name) != t.key:
                await self._cancel(t.name)
        for name, key in wanted.items():
            if name not in self._tasks:
                self._start_source(name, key, cfg)

    def _start_router(self, cfg: Config, outbox: Outbox | None = None) -> None:
        self.router = Router(cfg.alerting, cfg.site, self.state_dir, outbox=outbox)
        self.metrics.alerting.source = self.router.stats
        self._spawn("alerting", STAGE_SINKS, cfg.alerting, self.router.run)

    async def _apply_router(self, cfg: Config) -> None:
        """A changed alerting section: a new router on the same outbox (nothing is lost)."""
        if cfg.alerting == self.config.alerting and cfg.site == self.config.site:
            return
        await self._cancel("alerting")
        outbox = None
        if self.router is not None:  # the outbox goes on: it may be held in memory
            await self.router.close(keep_outbox=True)
            outbox = self.router.outbox
        self._start_router(cfg, outbox)

    def _detected(self, alert: Alert) -> None:
        if alert.resolved is None:
            log.warning(
                "detection",
                detector=alert.detector,
                severity=alert.severity.value,
                source=alert.source.ip or alert.source.mac or alert.identifier,
                summary=alert.summary,
                evidence=alert.evidence,
            )
        else:
            log.info("detection resolved", detector=alert.detector, identifier=alert.identifier)
        self.submit(alert)

    def submit(self, alert: Alert) -> None:
        """Hand an alert to the router (detectors and the daemon's own conditions)."""
        if self.router is not None:
            self.router.submit(alert)

    def _save_counters(self) -> None:
        if not self._pollers and not (self.state_dir / snmp_state.FILE).exists():
            return
        try:
            snmp_state.save(self.state_dir / snmp_state.FILE, list(self._pollers.values()))
        except OSError as exc:
            log.error("cannot save counter state", error=exc)

    async def _save_loop(self, health: Health) -> None:
        """Counter state to disk every few minutes, so a crash loses little."""
        while True:
            health.ok()
            await asyncio.sleep(STATE_SAVE_INTERVAL)
            await asyncio.to_thread(self._save_counters)
            if self.l2 is not None:
                await asyncio.to_thread(self.l2.save)
            self.conditions.check_disk(self.state_dir)

    async def _watchdog(self, health: Health) -> None:
        health.ok()
        await watchdog_loop(self.notifier)
        await asyncio.Event().wait()  # no watchdog configured: stay, so shutdown is uniform

    # -- reload ------------------------------------------------------------------------

    async def _reload_loop(self, health: Health) -> None:
        health.ok()
        while True:
            await self._reload.wait()
            self._reload.clear()
            await self.reload()

    async def reload(self) -> bool:
        """Load the config file again and apply it; a bad file keeps the old config running."""
        self.notifier.reloading()
        try:
            ok = await self._reload_once()
        finally:
            self.reloads += 1
            self.notifier.ready("reloaded" if self.config_path else "running")
        return ok

    async def _reload_once(self) -> bool:
        path = self.config_path
        try:
            new = await asyncio.to_thread(load_config, path) if path else self.config
            web_cfg = await asyncio.to_thread(self._web_config, new)
        except ConfigError as exc:
            self._record_reload(ok=False)
            log.error(
                "reload failed, keeping the running config",
                file=path,
                errors=len(exc.issues),
                first=exc.issues[0] if exc.issues else "",
            )
            for issue in exc.issues:
                log.error("config error", detail=str(issue))
            self.conditions.set(
                "config_reload_failed",
                f"config reload failed: {exc.issues[0] if exc.issues else 'invalid config'}",
                Severity.WARNING,
            )
            return False
        listen = self.listen_override or new.listen
        try:
            await self.web.apply(listen, web_cfg)
        except OSError as exc:
            self._record_reload(ok=False)
            log.error(
                "reload failed: cannot listen, keeping the running config",
                address=str(listen),
                error=exc.strerror or exc,
            )
            return False
        if new.log != self.config.log:
            logsetup.setup(new.log.level, new.log.format)
        if new.state_dir != self.config.state_dir or new.privacy != self.config.privacy:
            try:
                self._state(new)
            except (OSError, ValueError) as exc:
                log.error("state directory or site key not usable; keeping the old one", error=exc)
        self._wire_probe_endpoint(new)
        await self._apply_router(new)
        await self._apply_sources(new)
        if self.l2 is not None:
            self.l2.configure(new)
        self.config = new
        self._record_reload(ok=True)
        self.conditions.set("config_reload_failed", None, Severity.WARNING)
        log.info("config reloaded", file=path or "<built-in default>")
        return True

    def _wire_probe_endpoint(self, cfg: Config) -> None:
        """``GET /probe`` runs the probe engine with ``cfg``'s module settings."""
        probes = cfg.probes

        async def prober(module: str, target: str, seconds: float) -> ProbeResult:
            return await self.probes.once(probes, module, target, seconds)

        self.web.set_prober(prober if probes.enabled else None, probes.endpoint)

    def _record_reload(self, *, ok: bool) -> None:
        self.metrics.config_reload_successful.set(1 if ok else 0)
        if ok:
            self.metrics.config_reload_timestamp.set(time.time())

    # -- helpers -----------------------------------------------------------------------

    @staticmethod
    def _web_config(cfg: Config) -> WebConfig:
        return load_web_config(cfg.web_config_file) if cfg.web_config_file else WebConfig()

    def _state(self, cfg: Config) -> None:
        state_dir = cfg.state_dir or default_state_dir(dict(os.environ))
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = site_key(cfg.privacy, state_dir)
        self.site_key = key
        self.pseudonymise = Pseudonymiser(key, enabled=cfg.privacy.pseudonymise)
        self.state_dir = state_dir

    def _announce(self, cfg: Config, listen: HostPort, web_cfg: WebConfig) -> None:
        log.info(
            "sentinel started",
            version=__version__,
            site=cfg.site,
            config=self.config_path or "<built-in default>",
            listen=str(listen),
            tls=web_cfg.tls_server_config is not None,
            basic_auth=bool(web_cfg.basic_auth_users),
            state_dir=self.state_dir,
        )
        if not cfg.local.enabled:
            log.info("local interface sampling is off (local.enabled: false)")
        if cfg.snmp.switches:
            log.info("polling switches", count=len(cfg.snmp.switches))
        else:
            log.info("not polling switches", reason="no switches configured (snmp.switches)")
        if not cfg.capture.interface:
            log.info(
                "not capturing LAN traffic",
                reason="no capture interface configured (capture.interface)",
                needs="an interface and CAP_NET_RAW",
                cap_net_raw="yes" if self.privileges.capture_socket is not None else "no",
            )
        elif self.privileges.capture_socket is None and not cap_net_raw():
            log.warning(
                "capture needs CAP_NET_RAW, which this process lacks",
                interface=cfg.capture.interface,
            )
        else:
            on = [name for name in detector_classes() if getattr(cfg.detect, name).enabled]
            log.info(
                "capturing LAN traffic", interface=cfg.capture.interface, detectors=",".join(on)
            )
