#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mirror_node::fuzz::config(data));
