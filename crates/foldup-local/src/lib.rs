//! foldup-local
