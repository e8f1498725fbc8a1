#![no_main]
use libfuzzer_sys::fuzz_target;

// Whatever a modem says, in whatever pieces: the SMS dialog ends or waits,
// bounded, and never panics.
fuzz_target!(|data: &[u8]| lifeline::rules::sms::fuzz(data));
