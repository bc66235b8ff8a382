#![no_main]

use codesim::workload::TraceFormat;

libfuzzer_sys::fuzz_target!(|data: &[u8]| codesim_fuzz::trace(data, TraceFormat::AzureCsv));
