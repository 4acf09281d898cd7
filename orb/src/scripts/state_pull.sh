#!/bin/bash
# The orb's state_pull command: turns the orb parameters (PARAM_* variables) into foldup's
# variables and flags and runs `foldup state pull`, which sets DBT_STATE and DBT_ENGINE_STATE for
# the later steps through $BASH_ENV. Empty parameters stay unset.
set -euo pipefail

if ! command -v foldup >/dev/null 2>&1; then
  echo "foldup is not installed in this job; add the foldup/install step before foldup/state_pull." >&2
  exit 2
fi
if [ -n "${PARAM_STORE:-}" ]; then export FOLDUP_STATE_STORE="$PARAM_STORE"; fi
if [ -n "${PARAM_PROJECT_DIR:-}" ]; then export FOLDUP_PROJECT_DIR="$PARAM_PROJECT_DIR"; fi
if [ -n "${PARAM_PRODUCTION_BRANCH:-}" ]; then export FOLDUP_PRODUCTION_BRANCH="$PARAM_PRODUCTION_BRANCH"; fi

args=(state pull)
if [ -n "${PARAM_INTO:-}" ]; then args+=(--into "$PARAM_INTO"); fi
if [ -n "${PARAM_REF:-}" ]; then args+=(--ref "$PARAM_REF"); fi
if [ "${PARAM_IF_PRESENT:-false}" = "true" ] || [ "${PARAM_IF_PRESENT:-}" = "1" ]; then
  args+=(--if-present)
fi
exec foldup "${args[@]}"
