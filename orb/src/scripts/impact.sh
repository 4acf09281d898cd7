#!/bin/bash
# The orb's impact command: turns the orb parameters (PARAM_* variables) into foldup's flags and
# variables and runs `foldup impact`.
set -euo pipefail

if ! command -v foldup >/dev/null 2>&1; then
  echo "foldup is not installed in this job; add the foldup/install step before foldup/impact." >&2
  exit 2
fi
if [ -n "${PARAM_PROJECT_DIR:-}" ]; then
  export FOLDUP_PROJECT_DIR="$PARAM_PROJECT_DIR"
fi
if [ -n "${PARAM_TARGET_FOLDER:-}" ]; then
  export FOLDUP_TARGET_FOLDER="$PARAM_TARGET_FOLDER"
fi
if [ -z "${PARAM_STATE:-}" ]; then
  echo "The state parameter is empty; give the folder holding the production run's manifest.json." >&2
  exit 2
fi
exec foldup impact --state "$PARAM_STATE" --format "${PARAM_FORMAT:-markdown}"
