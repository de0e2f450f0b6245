#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mirror_commons::fuzz::sync_message(data));
