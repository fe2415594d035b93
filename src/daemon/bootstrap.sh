#!/bin/sh
# The bot container's command (DESIGN §6), run under Docker's --init (or by the process
# runtime with `sh`). This shell is replaced (exec) by `berth-daemon start`: one Node
# process that does what `berth-daemon init` does (code, state, entrypoint) and then what
# `berth-daemon run` does (runs the bot, syncs state and logs), so SIGTERM from the init
# reaches the daemon, which passes it on to the bot. One process instead of init-then-run
# saves a Node start on every container start for ~0.5 MB more idle memory (bench/).
#
# Node flags keep the daemon small (goal: <= 16 MB Private_Dirty when idle, measured by
# `npm run bench`): a 1 MB young generation, a capped old generation and no V8 worker
# threads. --jitless/--lite-mode saved only ~1 MB more and print a warning on every start,
# so they are not used. The bot's own interpreter gets none of these.
set -u

NODE="${BERTH_DAEMON_NODE:-/usr/local/bin/node}"
SCRIPT="${BERTH_DAEMON_SCRIPT:-/opt/berth/berth-daemon.cjs}"
FLAGS="--max-semi-space-size=1 --max-old-space-size=64 --single-threaded"

# shellcheck disable=SC2086 # FLAGS is a list of words
exec "$NODE" $FLAGS "$SCRIPT" start
