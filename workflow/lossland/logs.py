"""The one log line format every command writes: `[HH:MM:SS] message`, flushed (the job's log file is its stdout)."""

import time


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)
