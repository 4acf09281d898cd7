//! foldup-gitlab
