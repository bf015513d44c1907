//! test_ssp: the application is C (`c/ssp.c`), built with the stack
//! protector; a stack buffer overflow must end with
//! `Solo5: ABORT: Stack corruption detected` and status 255.
#![no_std]
#![no_main]

solo5_guest::manifest! {}
