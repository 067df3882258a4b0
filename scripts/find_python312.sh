#!/usr/bin/env bash
# Print the path of a Python >= 3.12 (Django 6.x needs one), or nothing if there is none.
# Looks on PATH first, then in pyenv's versions, which pyenv's shims hide unless selected.
set -uo pipefail
candidates=(python3.14 python3.13 python3.12)
if command -v pyenv >/dev/null 2>&1; then
  candidates+=("$(pyenv root)"/versions/3.1[2-9]*/bin/python3)
fi
for python in "${candidates[@]}"; do
  if "$python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
    command -v "$python"
    exit 0
  fi
done
