#!/usr/bin/env bash
# The static checks CI runs: ruff (lint and format) and mypy --strict on the package.
# Runs all three and reports each; exits non-zero if any failed.
# Tools come from the project's .venv when there is one, else from PATH.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

bin=""
if [[ -x .venv/bin/ruff && -x .venv/bin/mypy ]]; then
  bin=".venv/bin/"
fi

failed=()
run() {
  echo "+ $*"
  if ! "$@"; then
    failed+=("$*")
  fi
}

run "${bin}ruff" check .
run "${bin}ruff" format --check .
run "${bin}mypy" --strict oncall

if ((${#failed[@]})); then
  printf 'lint failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "lint ok"
