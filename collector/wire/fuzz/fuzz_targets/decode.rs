//! Every input shape, every derived field: nothing may panic, the
//! invariants the schema relies on must hold, and the strict fast path must
//! give what the lax path alone gives.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorlake_wire::{FrameRepr, Input, decode, decode_lax_only};

fuzz_target!(|data: &[u8]| {
    for input in [
        Input::VxlanPayload,
        Input::OuterFrame,
        Input::Ethernet,
        Input::Capture,
        Input::GenevePayload,
    ] {
        let result = decode(input, data, None);
        assert_eq!(result, decode_lax_only(input, data, None));
        if let Ok(d) = result {
            assert!(d.wire_len >= d.cap_len());
            assert_eq!(d.truncated(), d.wire_len > d.cap_len());
            let _ = d.community_id();
            let _ = d.direction();
            let _ = d.anomalies.to_string();
            if let Some(p) = d.payload() {
                assert!(p.len() <= d.frame.len());
            }
            let _ = FrameRepr::from_decoded(&d);
        }
    }
});
