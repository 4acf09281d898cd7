#!/bin/bash
# The orb's upload command: turns the orb parameters (PARAM_* variables) into foldup's own
# FOLDUP_* variables and runs `foldup upload`. Empty parameters stay unset, so that foldup's
# detection and the project's environment variables apply.
set -euo pipefail

if ! command -v foldup >/dev/null 2>&1; then
  echo "foldup is not installed in this job; add the foldup/install step before foldup/upload." >&2
  exit 2
fi

set_if_given() {
  if [ -n "$2" ]; then
    export "$1=$2"
  fi
}
set_if_given FOLDUP_CI_CONFIG_ID "${PARAM_CI_CONFIG_ID:-}"
set_if_given FOLDUP_RUN_TYPE "${PARAM_RUN_TYPE:-}"
set_if_given FOLDUP_PRODUCTION_BRANCH "${PARAM_PRODUCTION_BRANCH:-}"
set_if_given FOLDUP_PROJECT_DIR "${PARAM_PROJECT_DIR:-}"
set_if_given FOLDUP_TARGET_FOLDER "${PARAM_TARGET_FOLDER:-}"
set_if_given FOLDUP_TIMEOUT "${PARAM_TIMEOUT:-}"
set_if_given DATAFOLD_HOST "${PARAM_HOST:-}"

key_variable="${PARAM_API_KEY_VARIABLE:-DATAFOLD_API_KEY}"
if [ "$key_variable" != "DATAFOLD_API_KEY" ]; then
  if [ -z "${!key_variable:-}" ]; then
    echo "The environment variable $key_variable (api-key-variable) is empty; add the Datafold API key to the project's environment variables or a context." >&2
    exit 4
  fi
  export DATAFOLD_API_KEY="${!key_variable}"
fi

args=(upload)
if [ "${PARAM_WAIT:-false}" = "true" ] || [ "${PARAM_WAIT:-}" = "1" ]; then
  args+=(--wait)
fi
exec foldup "${args[@]}"
