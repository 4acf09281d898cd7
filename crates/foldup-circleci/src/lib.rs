//! foldup-circleci
