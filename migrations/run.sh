#!/usr/bin/env bash
# The seed's wrapper: ./migrations/run.sh [store ...] [flags] applies migrations (migrate.py: settings from the
# environment, then the project's .env), using the project's .venv when present.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x "$here/../.venv/bin/python" ]; then python="$here/../.venv/bin/python"; else python=python3; fi
fi
exec "$python" "$here/migrate.py" "$@"
