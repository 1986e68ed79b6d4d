//! PyO3 module exposing the core to Python (work in progress).
