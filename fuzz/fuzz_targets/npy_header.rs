//! `.npy` header parsing (`NpyHeader::parse`) and sample decoding on arbitrary bytes.
//!
//! Checks beyond "no panic": a parsed header re-encodes to a header that parses back to the same
//! value at the encoded length; the data offset lies inside the input; the data length does not
//! overflow (`data_len` agrees with `len × size`); `decode` yields exactly `len` samples or an
//! error for truncated data.
#![no_main]

use heimdall_core::capture::SampleBlock;
use heimdall_core::npy::{self, NpyHeader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((header, offset)) = NpyHeader::parse(data) else {
        assert!(npy::decode(data).is_err());
        return;
    };
    assert!(
        offset <= data.len(),
        "data offset {offset} past the input ({})",
        data.len()
    );
    let data_len = header
        .data_len()
        .expect("a parsed header has an addressable data length");
    assert_eq!(
        u128::from(data_len),
        u128::from(header.len) * header.dtype.size() as u128
    );

    let encoded = header.encode().expect("a parsed header re-encodes");
    assert_eq!(encoded.len() % npy::ALIGN, 0);
    let (again, again_offset) = NpyHeader::parse(&encoded).expect("an encoded header parses");
    assert_eq!(again, header);
    assert_eq!(again_offset, encoded.len());

    let payload = &data[offset..];
    match npy::decode(data) {
        Ok(block) => {
            let n = match block {
                SampleBlock::Complex(v) => v.len(),
                SampleBlock::Real(v) => v.len(),
            };
            assert_eq!(n as u64, header.len);
            assert!(payload.len() as u64 >= data_len);
        }
        Err(_) => assert!((payload.len() as u64) < data_len, "complete data was refused"),
    }
});
