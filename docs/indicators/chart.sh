#!/usr/bin/env bash
# Makes the README's indicator chart the way an analyst would: a development
# folder holding a synthetic population's past year (`samplan populate`), a hub
# serving it, the indicators exported as CSV by `samplan indicators`, charted by
# chart.py (matplotlib). Not part of CI.
#
#   docs/indicators/chart.sh      # writes docs/indicators/indicators.csv and assessments.png
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
hub=""
trap '[ -n "$hub" ] && kill "$hub" 2>/dev/null; rm -rf "$work"' EXIT

cargo build --quiet --release --bin samplan --manifest-path "$root/Cargo.toml"
samplan="$root/target/release/samplan"
"$samplan" populate "$work/dev" --citizens "${CITIZENS:-6000}"
"$samplan" serve --config "$work/dev/samplan.toml" >"$work/hub.log" 2>&1 &
hub=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/7443) 2>/dev/null && break; sleep 0.1; done

# Every month of the past year; the last ones are pending until their quarter settles.
from=$(date -d "$(date +%Y-%m-01) -12 months" +%Y-%m)
to=$(date -d "$(date +%Y-%m-01) -1 month" +%Y-%m)
"$samplan" indicators --dev-dir "$work/dev" --from "$from" --to "$to" --period month --by region \
  --indicator clock-met-assessment --indicator days-referral-to-assessment-median \
  --format csv --output "$here/indicators.csv"

if [ ! -x "$root/target/chart-venv/bin/python" ]; then
  python3 -m venv "$root/target/chart-venv"
  "$root/target/chart-venv/bin/pip" install --quiet matplotlib
fi
"$root/target/chart-venv/bin/python" "$here/chart.py" "$here/indicators.csv" "$here/assessments.png"
echo "wrote $here/indicators.csv and $here/assessments.png"
