#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rdpscope::fuzzing::suite_file(data));
