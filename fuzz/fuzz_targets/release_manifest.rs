#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mirror_governance::fuzz::release_manifest(data));
