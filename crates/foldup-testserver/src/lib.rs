//! foldup-testserver
