//! foldup-datafold
