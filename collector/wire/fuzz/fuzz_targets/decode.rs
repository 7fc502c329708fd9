//! Every input shape, every derived field: nothing may panic, and the
//! invariants the schema relies on must hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mirrorlake_wire::{FrameRepr, Input, decode};

fuzz_target!(|data: &[u8]| {
    for input in [Input::VxlanPayload, Input::OuterFrame, Input::Ethernet, Input::Capture] {
        if let Ok(d) = decode(input, data, None) {
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
