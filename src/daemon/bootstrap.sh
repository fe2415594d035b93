#!/bin/sh
# The bot container's command (DESIGN §6), run under Docker's --init (or by the process
# runtime with `sh`): `berth-daemon init` prepares code, state and the entrypoint; on
# success this shell is replaced (exec) by `berth-daemon run`, one Node process that runs
# the bot and syncs state and logs, so that SIGTERM from the init reaches the daemon, which
# passes it on to the bot.
#
# Node flags keep the daemon small (goal: <= 16 MB Private_Dirty when idle, measured by
# test/unit/daemon/daemon-memory.test.ts): a 1 MB young generation, a capped old generation
# and no V8 worker threads. --jitless/--lite-mode saved only ~1 MB more and print a warning
# on every start, so they are not used. The bot's own interpreter gets none of these.
set -u

NODE="${BERTH_DAEMON_NODE:-/usr/local/bin/node}"
SCRIPT="${BERTH_DAEMON_SCRIPT:-/opt/berth/berth-daemon.mjs}"
FLAGS="--max-semi-space-size=1 --max-old-space-size=64 --single-threaded"

# shellcheck disable=SC2086 # FLAGS is a list of words
"$NODE" $FLAGS "$SCRIPT" init || exit $?
# shellcheck disable=SC2086
exec "$NODE" $FLAGS "$SCRIPT" run
