use crate::Sourced;

/// Which branch counts as production, per PRODUCT.md: the configured `production_branch`, else
/// the provider's default branch, else `main`, then `master`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProductionBranch {
    /// A branch named by configuration or by the provider.
    Named { name: String, source: String },
    /// Nothing named one: `main` counts, and `master` too (repositories have one or the other).
    Fallback,
}

impl ProductionBranch {
    /// Resolves from the configured branch (if any) and the provider's default branch.
    pub fn resolve(configured: Option<&str>, provider_default: &Sourced<String>) -> Self {
        if let Some(name) = configured.filter(|n| !n.trim().is_empty()) {
            return ProductionBranch::Named {
                name: name.trim().to_owned(),
                source: "configured production_branch".to_owned(),
            };
        }
        if let (Some(name), source) = (&provider_default.value, &provider_default.source) {
            return ProductionBranch::Named {
                name: name.clone(),
                source: format!(
                    "default branch ({})",
                    source.as_deref().unwrap_or("provider")
                ),
            };
        }
        ProductionBranch::Fallback
    }

    /// Whether `branch` is the production branch.
    pub fn matches(&self, branch: &str) -> bool {
        match self {
            ProductionBranch::Named { name, .. } => name == branch,
            ProductionBranch::Fallback => branch == "main" || branch == "master",
        }
    }

    /// Words for a `sources` entry: why a branch is (or is not) production.
    pub fn describe(&self) -> String {
        match self {
            ProductionBranch::Named { name, source } => format!("'{name}' from {source}"),
            ProductionBranch::Fallback => "'main' or 'master' (no default branch known)".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_wins_over_provider_and_fallback() {
        let provider = Sourced::new("trunk".to_owned(), "CI_DEFAULT_BRANCH");
        let p = ProductionBranch::resolve(Some("release"), &provider);
        assert!(p.matches("release") && !p.matches("trunk"));
        let p = ProductionBranch::resolve(None, &provider);
        assert!(p.matches("trunk") && !p.matches("main"));
        let p = ProductionBranch::resolve(None, &Sourced::unknown());
        assert!(p.matches("main") && p.matches("master") && !p.matches("dev"));
    }
}
