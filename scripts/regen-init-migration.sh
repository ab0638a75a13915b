#!/usr/bin/env bash
# Development only, until the first release: rebuild prisma/migrations/20261122000000_init from
# prisma/schema/ (no database anywhere has applied it yet). Hand-written migrations (triggers,
# checks: everything Prisma does not model) live in later directories and are kept as they are.
# After the first release, add migrations with `npx prisma migrate dev --create-only --name <what>`.
set -euo pipefail
cd "$(dirname "$0")/.."
exec 9>/tmp/coalition-hub-migrations.lock
flock 9
keep=$(mktemp -d)
shopt -s nullglob
for d in prisma/migrations/2*/; do
  [ "$d" = "prisma/migrations/20261122000000_init/" ] && continue
  mv "$d" "$keep/"
done
rm -rf prisma/migrations/20261122000000_init
node prisma/engine/migrate.mjs create init >/dev/null
mv prisma/migrations/2*_init prisma/migrations/20261122000000_init 2>/dev/null || true
mv "$keep"/* prisma/migrations/ 2>/dev/null || true
rmdir "$keep"
npx prisma generate >/dev/null
echo "prisma/migrations/20261122000000_init regenerated; client regenerated"
