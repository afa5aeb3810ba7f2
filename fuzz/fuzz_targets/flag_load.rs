//! The RDB loader: arbitrary bytes through the stored-flag codec. A flag that
//! loads must save back to bytes that load to an equal flag.
#![no_main]

use hanoi_core::codec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(flag) = codec::from_bytes(data) {
        let again = codec::from_bytes(&codec::to_bytes(&flag)).expect("a saved flag loads");
        assert!(again == flag);
        let _ = flag.explain(b"1234");
    }
});
