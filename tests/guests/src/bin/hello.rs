//! test_hello: the application is C (`c/hello.c`, `solo5_app_main`),
//! compiled and linked in by build.rs; this file only brings in the SDK
//! and the (empty) manifest.
#![no_std]
#![no_main]

solo5_guest::manifest! {}
