//! Shared tender pieces.
