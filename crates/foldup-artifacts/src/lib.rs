//! foldup-artifacts
