#!/bin/sh
# A fake `claude` that tries every way out of its sandbox and reports, one line
# each, what it reached: "LEAK <way>" when a way out worked, "SAFE <way>" when
# it did not, and "CAN <ability>" / "CANNOT <ability>" for what a session must
# (or must not) be able to do. It never prints a secret itself.
#
# Environment (set by tests/sandbox_test.ts):
#   ESCAPE_WORK_DIR, ESCAPE_UPLOAD_DIR  the session's own folders
#   ESCAPE_DATA_DIR                     DATA_DIR (state/, journal/, other sessions)
#   ESCAPE_BOT_DIR                      the bot's folder, with its .env
#   ESCAPE_BOT_PID                      the bot's pid as the host sees it
#   ESCAPE_HIDDEN_FILE, ESCAPE_HIDDEN_DIR  CLAUDE_SANDBOX_HIDE paths
#   ESCAPE_TMP_PROBE                    a file name to create in the temp folder
#   ESCAPE_ELSEWHERE                    a file outside every writable path
#   ESCAPE_NET_PORT                     a port on the host's 127.0.0.1 that
#                                       answers NET-OK; the allow-list names
#                                       it as localhost, not as 127.0.0.1
# The bracket in each pattern keeps grep from finding its own command line.

cd "$ESCAPE_WORK_DIR" || exit 97

report() { # report <way> <leaked?>
  if [ "$2" = yes ]; then echo "LEAK $1"; else echo "SAFE $1"; fi
}
found() { # found <file> <pattern>: the file is readable and holds the pattern
  grep -aq "$2" "$1" 2>/dev/null && echo yes || echo no
}
ability() { # ability <name> <command...>
  name=$1
  shift
  if "$@" 2>/dev/null; then echo "CAN $name"; else echo "CANNOT $name"; fi
}

TOKEN='TELEGRAM_BOT_TOKE[N]='

report parent-environ "$(found "/proc/$PPID/environ" "$TOKEN")"
any=no
for environ in /proc/[0-9]*/environ; do
  [ "$(found "$environ" "$TOKEN")" = yes ] && any=yes
done
report any-process-environ "$any"
report ps-environment "$(ps axeww 2>/dev/null | grep -q "$TOKEN" && echo yes || echo no)"
report parent-cwd-env "$(found "/proc/$PPID/cwd/.env" "$TOKEN")"
report bot-pid-environ "$(found "/proc/$ESCAPE_BOT_PID/environ" "$TOKEN")"
report bot-pid-visible "$(ps -p "$ESCAPE_BOT_PID" -o args= 2>/dev/null | grep -q 'escape_bo[t]' && echo yes || echo no)"
report state-read "$(found "$ESCAPE_DATA_DIR/state/sessions.json" 'STATE-SECRE[T]')"
report journal-read "$(found "$ESCAPE_DATA_DIR/journal/entry.json" 'JOURNAL-SECRE[T]')"
report state-listing "$(ls "$ESCAPE_DATA_DIR" 2>/dev/null | grep -q 'stat[e]' && echo yes || echo no)"
report other-session-read "$(found "$ESCAPE_DATA_DIR/work/other/notes.txt" 'OTHER-SECRE[T]')"
report other-upload-read "$(found "$ESCAPE_DATA_DIR/uploads/other/photo.txt" 'OTHER-SECRE[T]')"
report bot-dotenv "$(found "$ESCAPE_BOT_DIR/.env" "$TOKEN")"
report hidden-file "$(found "$ESCAPE_HIDDEN_FILE" 'HIDDEN-SECRE[T]')"
report hidden-dir "$(found "$ESCAPE_HIDDEN_DIR/key.pem" 'HIDDEN-SECRE[T]')"
report state-write "$( (echo planted > "$ESCAPE_DATA_DIR/state/planted.json") 2>/dev/null && echo yes || echo no)"
report journal-write "$( (echo planted > "$ESCAPE_DATA_DIR/journal/planted.json") 2>/dev/null && echo yes || echo no)"
report signal-bot "$(kill -USR1 "$ESCAPE_BOT_PID" 2>/dev/null && echo yes || echo no)"
web() { # web <curl options...>: the page was fetched
  curl -s -m 5 "$@" 2>/dev/null | grep -q 'NET-OK' && echo yes || echo no
}
# Around the proxy, and through it to an address not on the list.
report net-direct "$(web --noproxy '*' "http://127.0.0.1:$ESCAPE_NET_PORT/")"
report net-unlisted "$(web "http://127.0.0.1:$ESCAPE_NET_PORT/")"

ability read-workdir grep -q 'WORK-NOT[E]' "$ESCAPE_WORK_DIR/readme.txt"
ability write-workdir touch "$ESCAPE_WORK_DIR/written-by-claude"
ability write-uploads touch "$ESCAPE_UPLOAD_DIR/written-by-claude"
ability write-tmp touch "${TMPDIR:-/tmp}/$ESCAPE_TMP_PROBE"
# /tmp itself too: the test then looks for the file in the host's /tmp.
touch "/tmp/$ESCAPE_TMP_PROBE" 2>/dev/null
ability reach-listed-domain [ "$(web "http://localhost:$ESCAPE_NET_PORT/")" = yes ]
ability write-claude-config touch "$HOME/.claude/written-by-claude"
ability write-elsewhere touch "$ESCAPE_ELSEWHERE"
echo DONE
