//! What an operator sees when the policy is printed.

use crate::{build, Abi, Block, Devices};

fn devices() -> Devices {
    Devices {
        max_block_request: 0,
        net_fds: vec![3],
        blocks: vec![Block {
            fd: 4,
            block_size: 512,
            capacity: 4096,
        }],
    }
}

/// The rule part of each line (comment lines left out, padding trimmed).
fn rules(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (rule, why) = line
                .split_once("  # ")
                .expect("every rule names its Solo5 call");
            (rule.trim_end().to_string(), why.to_string())
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(r, w)| (r.to_string(), w.to_string()))
        .collect()
}

#[test]
fn native_policy_prints_exactly() {
    let text = build(&Abi::Native, &devices()).to_string();
    let expected = "\
# seccomp policy of solo5-spt, native ABI, x86_64
# any other system call or argument kills the process (SIGSYS, exit status 159)
write(fd == 1)                                                      # solo5_console_write
exit_group                                                          # solo5_exit, solo5_abort
clock_gettime(clk_id == CLOCK_MONOTONIC)                            # solo5_clock_monotonic (vDSO fallback)
clock_gettime(clk_id == CLOCK_REALTIME)                             # solo5_clock_wall (vDSO fallback)
arch_prctl(code == ARCH_SET_FS)                                     # solo5_set_tls_base
ppoll(sigmask == NULL)                                              # solo5_yield
read(fd == 3)                                                       # solo5_net_read
write(fd == 3)                                                      # solo5_net_write
pread64(fd == 4, count == 512, offset <= 3584, offset % 512 == 0)   # solo5_block_read
pwrite64(fd == 4, count == 512, offset <= 3584, offset % 512 == 0)  # solo5_block_write
write(fd == 2)                                                      # solo5_net_read, solo5_yield (end-of-file notice)
";
    assert_eq!(text, expected);
}

#[test]
fn spt_v2_policy_lists_the_upstream_rules() {
    let abi = Abi::SptV2 {
        epollfd: 5,
        timerfd: 6,
    };
    let text = build(&abi, &devices()).to_string();
    assert!(
        text.starts_with("# seccomp policy of solo5-spt, spt ABI 2, x86_64\n"),
        "{text}"
    );
    let expected = [
        ("write(fd == 1)", "solo5_console_write"),
        ("exit_group", "solo5_exit, solo5_abort"),
        (
            "clock_gettime(clk_id == CLOCK_MONOTONIC)",
            "solo5_clock_monotonic",
        ),
        (
            "clock_gettime(clk_id == CLOCK_REALTIME)",
            "solo5_clock_wall",
        ),
        ("arch_prctl(code == ARCH_SET_FS)", "solo5_set_tls_base"),
        (
            "timerfd_settime(fd == 6, flags == TFD_TIMER_ABSTIME)",
            "solo5_yield",
        ),
        ("epoll_pwait(epfd == 5)", "solo5_yield"),
        ("read(fd == 3)", "solo5_net_read"),
        ("write(fd == 3)", "solo5_net_write"),
        (
            "pread64(fd == 4, count == 512, offset <= 3584, offset % 512 == 0)",
            "solo5_block_read",
        ),
        (
            "pwrite64(fd == 4, count == 512, offset <= 3584, offset % 512 == 0)",
            "solo5_block_write",
        ),
    ];
    assert_eq!(rules(&text), pairs(&expected));
}

#[test]
fn one_line_per_device_rule() {
    let devices = Devices {
        max_block_request: 0,
        net_fds: vec![3, 7],
        blocks: vec![
            Block {
                fd: 4,
                block_size: 512,
                capacity: 1 << 40,
            },
            Block {
                fd: 8,
                block_size: 4096,
                capacity: 4096,
            },
        ],
    };
    let text = build(&Abi::Native, &devices).to_string();
    let found = rules(&text);
    let device_rules: Vec<_> = found.iter().skip(6).cloned().collect();
    let expected = [
        ("read(fd == 3)", "solo5_net_read"),
        ("write(fd == 3)", "solo5_net_write"),
        ("read(fd == 7)", "solo5_net_read"),
        ("write(fd == 7)", "solo5_net_write"),
        (
            "pread64(fd == 4, count == 512, offset <= 1099511627264, offset % 512 == 0)",
            "solo5_block_read",
        ),
        (
            "pwrite64(fd == 4, count == 512, offset <= 1099511627264, offset % 512 == 0)",
            "solo5_block_write",
        ),
        (
            "pread64(fd == 8, count == 4096, offset <= 0, offset % 4096 == 0)",
            "solo5_block_read",
        ),
        (
            "pwrite64(fd == 8, count == 4096, offset <= 0, offset % 4096 == 0)",
            "solo5_block_write",
        ),
        (
            "write(fd == 2)",
            "solo5_net_read, solo5_yield (end-of-file notice)",
        ),
    ];
    assert_eq!(device_rules, pairs(&expected), "{text}");
}

#[test]
fn no_devices_prints_no_read_nor_block_rule() {
    for abi in [
        Abi::Native,
        Abi::SptV2 {
            epollfd: 5,
            timerfd: 6,
        },
    ] {
        let text = build(&abi, &Devices::default()).to_string();
        let calls: Vec<String> = rules(&text)
            .into_iter()
            .map(|(rule, _)| rule.split('(').next().unwrap_or_default().to_string())
            .collect();
        for absent in ["read", "pread64", "pwrite64"] {
            assert!(!calls.iter().any(|c| c == absent), "{absent} in {text}");
        }
        // Only the console may be written to.
        assert_eq!(text.matches("write(").count(), 1, "{text}");
    }
}

#[test]
fn device_smaller_than_a_block_gets_no_rule() {
    let devices = Devices {
        max_block_request: 0,
        net_fds: Vec::new(),
        blocks: vec![Block {
            fd: 4,
            block_size: 512,
            capacity: 256,
        }],
    };
    let text = build(&Abi::Native, &devices).to_string();
    assert!(
        !text.contains("pread64") && !text.contains("pwrite64"),
        "{text}"
    );
}
