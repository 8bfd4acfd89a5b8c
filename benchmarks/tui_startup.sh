#!/usr/bin/env bash
# TUI start-up, as a user meets it: the app in tmux at 100x30 with two saved favourites,
# `capture-pane` polled every 20 ms. Prints, per run, the seconds until the screen is up
# (the favourites pane shows) and until the recommendations show. With several source
# trees (e.g. a `git worktree` of an older commit), the runs interleave A B A B.
#
# With --busy a competing process keeps one core loaded meanwhile (an SSH box is rarely idle).
#
#     benchmarks/tui_startup.sh [--rounds 3] [--busy] [TREE ...]      # default: this tree
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
rounds=3
busy=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --busy) busy=1; shift ;;
    *) break ;;
  esac
done
if [ -n "$busy" ]; then
  python3 -c "while True: pass" & hog=$!
  trap 'kill $hog 2>/dev/null || true' EXIT
  sleep 0.5
fi
trees=("$@"); [ ${#trees[@]} -eq 0 ] && trees=("$here")
python="$here/.venv/bin/python"

poll() {
  local tree=$1 home start screen="" ready="" pane now
  home=$(mktemp -d)
  printf '{"version": 1, "favourites": [1535, 9253], "excluded": []}\n' > "$home/favourites.json"
  start=$(date +%s.%N)
  tmux new-session -d -s animerec-startup -x 100 -y 30 "cd '$tree' && ANIMEREC_HOME='$home' '$python' -m animerec_tui tui"
  for _ in $(seq 1 1000); do
    pane=$(tmux capture-pane -pt animerec-startup 2>/dev/null || true)
    now=$(date +%s.%N)
    [ -z "$screen" ] && grep -q "Favourites" <<<"$pane" && screen=$(echo "$now - $start" | bc)
    if grep -q "recommendations for 2 favourites" <<<"$pane"; then ready=$(echo "$now - $start" | bc); break; fi
    sleep 0.02
  done
  tmux kill-session -t animerec-startup 2>/dev/null || true
  rm -rf "$home"
  printf '%s\tscreen %s s\trecommendations %s s\tload %s\n' "$tree" "${screen:-?}" "${ready:-?}" "$(cut -d' ' -f1 /proc/loadavg)"
}

for _ in $(seq 1 "$rounds"); do
  for tree in "${trees[@]}"; do poll "$tree"; done
done
