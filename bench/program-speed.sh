#!/usr/bin/env bash
# Issue 16's speed check: bench/ledger.ts (service layer) alternating, per round, between the code before
# the loyalty program (a checkout at BEFORE, default a worktree of ff1b1a0: git worktree add --detach
# /tmp/before ff1b1a0 && ln -s "$PWD/node_modules" /tmp/before/node_modules && (cd /tmp/before && npx prisma generate)),
# the current code with members who join now (welcome bonuses paid) and with members past the welcome
# window (rules evaluated, no bonus). ROUNDS (4), SECS (6).
set -euo pipefail
cd "$(dirname "$0")/.."
HERE=$PWD
BEFORE=${BEFORE:-/tmp/before}
NODE="$HERE/node_modules/.bin/node"
for r in $(seq 1 "${ROUNDS:-4}"); do
  for arm in before now past-window; do
    case $arm in
      before) dir=$BEFORE; args=(--import "$HERE/node_modules/tsx/dist/esm/index.mjs"); joined=0 ;;
      now) dir=$HERE; args=(); joined=0 ;;
      past-window) dir=$HERE; args=(); joined=120 ;;
    esac
    echo "== round $r, $arm (load $(cut -d' ' -f1 /proc/loadavg))"
    (cd "$dir" && BENCH_JOINED_DAYS_AGO=$joined BENCH_SECONDS="${SECS:-6}" BENCH_GATEWAY=0 "$NODE" "${args[@]}" bench/ledger.ts 2>&1 | grep -E "single awardPoints \(service layer, group|bulk earn \(")
  done
done
