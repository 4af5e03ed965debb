#!/bin/sh
# Does what `deno task start` does (the set-up wizard when there is no token
# and a terminal to ask on, then the bot), but the bot replaces this shell
# (exec): no task process stays resident beside it (about 22 MB RSS, 4 MB of
# it its own; BENCHMARKS.md), and under systemd the main process is the bot.
# Deno: $DENO, else the pinned one through npx (as the README's commands),
# else `deno` on PATH.
set -eu
cd "$(dirname "$0")"
if [ -z "${DENO:-}" ]; then
  DENO=$(npx --prefer-offline -y deno@2.9.6 eval 'console.log(Deno.execPath())' 2>/dev/null) ||
    DENO=$(command -v deno) || {
    echo "start.sh: no Deno found: install Node.js (for npx), or set DENO" >&2
    exit 1
  }
fi
launch() {
  "$DENO" run --quiet --allow-env --allow-read=.env launch.ts "$@"
}
# Word splitting of the printed arguments is meant: launch.ts refuses paths
# with whitespace.
SETUP=$(launch --setup-if-unconfigured)
# shellcheck disable=SC2086
[ "$SETUP" = configured ] || "$DENO" run $SETUP
ARGS=$(launch)
# shellcheck disable=SC2086
exec "$DENO" run $ARGS
