//! solo5-spt library.
