#!/bin/sh
# guarded.sh OWNER_PID PROGRAM ARGS…
#
# Runs PROGRAM, and ends every process of this session (PROGRAM and all it started: cargo and
# its rustc, cargo lambda watch and each function, moto) when told to (TERM, INT, HUP), when
# OWNER is gone (even killed with SIGKILL, when it could clean nothing up), or once PROGRAM has
# exited. Exits with PROGRAM's status (143 when stopped). Start it as a session leader
# (`setsid -w sh infra/guarded.sh …`, or setsid(2) before exec) so the session is its own.
owner=$1
shift
"$@" &
child=$!
others() { ps -o pid= -s $$ | awk -v me=$$ '$1 != me'; }
end() {
  trap '' TERM INT HUP
  kill -TERM $(others) 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$child" 2>/dev/null || break
    sleep 0.1
  done
  sleep 0.2
  kill -KILL $(others) 2>/dev/null
  exit "${1:-143}"
}
trap end TERM INT HUP
# Polls every 0.3 s; `wait` on a background sleep lets a signal's trap run at once.
while kill -0 "$owner" 2>/dev/null && kill -0 "$child" 2>/dev/null; do
  sleep 0.3 &
  wait $!
done
if kill -0 "$child" 2>/dev/null; then
  end 143
fi
wait "$child"
end $?
