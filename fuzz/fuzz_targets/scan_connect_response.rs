#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rdpscope::fuzzing::scan_connect_response(data));
