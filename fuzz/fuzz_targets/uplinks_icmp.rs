#![no_main]
use libfuzzer_sys::fuzz_target;
use lifeline::uplinks::icmp::{Family, parse_reply};

// Whatever a raw ICMP socket receives: parsed or refused, never a panic.
fuzz_target!(|data: &[u8]| {
    let _ = parse_reply(Family::V4, data);
    let _ = parse_reply(Family::V6, data);
});
