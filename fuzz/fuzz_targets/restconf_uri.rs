#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lifeline::northbound::https::restconf::uri::fuzz(data);
});
