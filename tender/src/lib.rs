//! What every Solo5 tender shares: the executable and its notes, the
//! manifest, the command line, device attachment and the guest memory
//! layout. Nothing here depends on how the guest is run (spt or hvt).

pub mod cmdline;
pub mod core_dump;
pub mod devices;
pub mod elf;
pub mod kernel_file;
pub mod manifest;
pub mod notes;
pub mod privileges;
pub mod raw;
pub mod report;
pub mod stack_note;
pub mod stdfds;
#[cfg(test)]
mod test_elf;
pub mod usermode_note;
