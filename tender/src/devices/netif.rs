//! Network interfaces by name or index: what a tender asks of the tap it
//! attaches, and the set-up a helper such as solo5-netns-exec does before
//! it execs a tender (create a tap, set its MTU, bring it up). Safe
//! wrappers; the system calls behind them live in the devices' `sys`
//! module.

pub use super::sys::{
    if_hwaddr, if_index, if_is_up, if_mtu, if_name, interfaces, set_mtu, set_up, tap_create,
};
