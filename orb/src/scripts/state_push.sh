#!/bin/bash
# The orb's state_push command: turns the orb parameters (PARAM_* variables) into foldup's
# variables and flags and runs `foldup state push`. Empty parameters stay unset.
set -euo pipefail

if ! command -v foldup >/dev/null 2>&1; then
  echo "foldup is not installed in this job; add the foldup/install step before foldup/state_push." >&2
  exit 2
fi
if [ -n "${PARAM_STORE:-}" ]; then export FOLDUP_STATE_STORE="$PARAM_STORE"; fi
if [ -n "${PARAM_PROJECT_DIR:-}" ]; then export FOLDUP_PROJECT_DIR="$PARAM_PROJECT_DIR"; fi
if [ -n "${PARAM_TARGET_FOLDER:-}" ]; then export FOLDUP_TARGET_FOLDER="$PARAM_TARGET_FOLDER"; fi
if [ -n "${PARAM_PRODUCTION_BRANCH:-}" ]; then export FOLDUP_PRODUCTION_BRANCH="$PARAM_PRODUCTION_BRANCH"; fi

args=(state push)
if [ "${PARAM_FORCE:-false}" = "true" ] || [ "${PARAM_FORCE:-}" = "1" ]; then
  args+=(--force)
fi
exec foldup "${args[@]}"
