"""A realtime bot in the0's format: Berth imports this module and calls main(bot_id, config).

State follows the0's SDK convention: one JSON file per key under $STATE_DIR
(/state/.the0-state in a container). Berth persists the whole /state directory.
Standard library only.
"""
import json
import os
import signal
import sys
import time

STATE_DIR = os.environ.get("STATE_DIR") or "/state/.the0-state"


def state_get(key, default=None):
    try:
        with open(os.path.join(STATE_DIR, f"{key}.json"), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def state_set(key, value):
    os.makedirs(STATE_DIR, exist_ok=True)
    path = os.path.join(STATE_DIR, f"{key}.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f)
    os.replace(tmp, path)


def main(bot_id, config):
    interval = float(config.get("interval_seconds", 1))
    symbol = config.get("symbol", "BTC-USD")
    ticks = int(state_get("ticks", 0))

    def stop(_signum, _frame):
        state_set("ticks", ticks)
        print(f"{bot_id}: stopping after {ticks} ticks", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"{bot_id}: watching {symbol}, resuming at tick {ticks}", flush=True)
    while True:
        ticks += 1
        state_set("ticks", ticks)
        state_set("last_tick", {"symbol": symbol, "tick": ticks, "at": time.time()})
        print(f"{bot_id}: tick {ticks} for {symbol}", flush=True)
        time.sleep(interval)
