"""A live bot that counts, standard library only.

Its state is one JSON file, state.json, in the directory Berth persists
($BERTH_STATE_DIR or $STATE_DIR, /state in a container). Berth restores that directory
before the bot starts, so after a crash, a restart or a new code version the count
continues where it stopped.
"""
import json
import os
import signal
import sys
import time

STATE_DIR = os.environ.get("BERTH_STATE_DIR") or os.environ.get("STATE_DIR") or "/state"
STATE_FILE = os.path.join(STATE_DIR, "state.json")
CONFIG = json.loads(os.environ.get("BOT_CONFIG") or "{}")
INTERVAL = float(CONFIG.get("interval_seconds", 1))
BOT_ID = os.environ.get("BOT_ID", "python-counter")


def load_count():
    try:
        with open(STATE_FILE, encoding="utf-8") as f:
            return int(json.load(f).get("count", 0))
    except FileNotFoundError:
        return 0
    except (ValueError, OSError) as err:
        print(f"could not read {STATE_FILE} ({err}); starting from 0", file=sys.stderr, flush=True)
        return 0


def save_count(count):
    # Write a temporary file, then rename: a reader (and Berth's sync) never sees half a file.
    os.makedirs(STATE_DIR, exist_ok=True)
    tmp = STATE_FILE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"count": count, "updated_at": time.time()}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, STATE_FILE)


count = load_count()


def on_sigterm(_signum, _frame):
    save_count(count)
    print(f"{BOT_ID}: SIGTERM, saved count={count}, bye", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, on_sigterm)
print(f"{BOT_ID}: starting from count={count}", flush=True)

while True:
    count += 1
    save_count(count)
    print(f"{BOT_ID}: count={count}", flush=True)
    time.sleep(INTERVAL)
