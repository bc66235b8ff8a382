#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| codesim_fuzz::import(data));
