#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rdpscope::fuzzing::x224_confirm(data));
