"""Drive a real ``python run_bot.py`` process line by line through pipes."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The journeys type faster than a person; flood control stays on, with room for them
# (tests/e2e/test_flood_e2e.py attacks it at the default).
E2E_BURST = "60"


class BotProcess:
    def __init__(self, *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("LIENLAC_")}
        # the terminal chat follows the locale (issue 19): these journeys are in Vietnamese
        # whatever the machine's LANG, unless a test says otherwise
        full_env.update(LANG="C.UTF-8", LC_ALL="", LC_MESSAGES="")
        full_env["LIENLAC_THROTTLE__BURST"] = E2E_BURST
        full_env.update(env or {})
        full_env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "run_bot.py"), *args],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.transcript: list[str] = []
        self.stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._drain, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _pump(stream: object, out: queue.Queue[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            out.put(line.rstrip("\n"))

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def type(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def read_until(self, needle: str, timeout: float = 20) -> str:
        """Everything printed until a line containing ``needle`` (inclusive)."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            seen.append(line)
            self.transcript.append(line)
            if needle in line:
                return "\n".join(seen)
        raise AssertionError(
            f"{needle!r} not printed within {timeout}s; got:\n"
            + "\n".join(seen)
            + "\nstderr:\n"
            + "".join(self.stderr)
        )

    def close(self, timeout: float = 10) -> int:
        """Close stdin (EOF ends the chat), wait, and release every pipe."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            raise
        finally:
            self._release()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._release()

    def _release(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()


def link_in_terminal(bot: BotProcess, code: str, choices: tuple[str, ...]) -> None:
    """Type a student or staff code, the numbers of the ``choices`` (labels: a phone, then
    "Đồng ý") as the menus show them, then the code the simulated SMS shows: linked."""
    import re

    bot.type(code)
    for choice in choices:
        menu = bot.read_until("Gõ số để chọn")
        number = re.findall(rf"^\s*(\d+)\. .*{re.escape(choice)}", menu, re.MULTILINE)
        assert number, menu
        bot.type(number[-1])
    sms = bot.read_until("SMS giả lập")
    otp = re.search(r"\b(\d{6})\b", sms.splitlines()[-1])
    assert otp, sms
    bot.type(otp.group(1))
    bot.read_until("Liên kết thành công")


class LoggedProcess:
    """``python run_bot.py`` started (and restarted) with its output in files under
    ``tmp_path`` (``stdout.N``, ``stderr.N`` for the N-th start): what the webhook and
    polling e2e tests share."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def spawn(self, args: list[str], env: dict[str, str]) -> None:
        assert self.proc is None
        self.runs += 1
        out = (self.tmp_path / f"stdout.{self.runs}").open("wb")
        err = (self.tmp_path / f"stderr.{self.runs}").open("wb")
        with out, err:
            self.proc = subprocess.Popen(
                [sys.executable, "run_bot.py", *args],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def terminate(self) -> tuple[int | None, float]:
        """SIGTERM; (exit code, or None after 10 s and a kill; seconds it took)."""
        assert self.proc is not None
        began = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            code = None
        self.proc = None
        return code, time.monotonic() - began

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def output(self) -> str:
        parts = []
        for run in range(1, self.runs + 1):
            for name in ("stdout", "stderr"):
                path = self.tmp_path / f"{name}.{run}"
                if path.exists():
                    parts.append(path.read_text("utf-8", "replace"))
        return "\n".join(parts)


def cli_runner(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run(*args, **env)``: ``run_bot.py`` as an operator types it, in ``tmp_path``, with no
    LIENLAC_*, LC_* or LANG variables but those given (the language is the test's choice)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIENLAC_", "LC_", "LANG"))}
    env["LIENLAC_DATA_DIR"] = str(tmp_path / "data")
    script = Path(__file__).resolve().parents[2] / "run_bot.py"

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(script), *args],
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
        )

    return run
