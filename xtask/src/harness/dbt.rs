//! Running dbt from a task: the same quiet, self-contained environment for every run.

use std::process::Command;

/// Makes `dbt` (a command already naming the dbt executable) run as a CI machine needs it: no
/// phoning home, no colours, and none of the user's `DBT_*` settings that would move its target,
/// project or profiles folder.
pub fn quiet(dbt: &mut Command) -> &mut Command {
    dbt.env("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
        .env("DO_NOT_TRACK", "1")
        .env("DBT_USE_COLORS", "false")
        .env_remove("DBT_TARGET_PATH")
        .env_remove("DBT_PROJECT_DIR")
        .env_remove("DBT_PROFILES_DIR")
}
