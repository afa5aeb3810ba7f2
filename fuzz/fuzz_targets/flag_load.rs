//! The RDB loader: arbitrary bytes through the stored-flag codec (encoding
//! version 1, as an RDB value holds it), and through `from_bytes` (the
//! HANOI.EXPORT form). A flag that loads must save back to bytes that load to
//! an equal flag.
#![no_main]

use hanoi_core::codec::{self, SliceSource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(flag) = codec::load(&mut SliceSource(data), 1) {
        let again = codec::from_bytes(&codec::to_bytes(&flag)).expect("a saved flag loads");
        assert!(again == flag);
        let _ = flag.explain(b"1234");
    }
    if let Ok(flag) = codec::from_bytes(data) {
        let bytes = codec::to_bytes(&flag);
        let again = codec::from_bytes(&bytes).expect("loads");
        assert!(again == flag);
        // The export is deterministic: the same flag, the same bytes.
        assert_eq!(codec::to_bytes(&again), bytes);
    }
    // The form without ids (HANOI.EXPORT NOIDS, the AOF rewrite's head).
    if let Ok(p) = codec::from_bytes_partial(data) {
        let _ = hanoi_core::Description::of_partial(&p, 0).fields();
    }
});
