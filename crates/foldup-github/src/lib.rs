//! foldup-github
