//! The int16 LE decoder across arbitrary chunk boundaries.
#![cfg(feature = "http_iq")]

use heimdall_websdr::http_iq::protocol::I16LeIqDecoder;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_split_gives_the_same_samples(data in proptest::collection::vec(any::<u8>(), 0..400), cuts in proptest::collection::vec(0usize..400, 0..20), max in 0usize..200) {
        let mut whole = Vec::new();
        I16LeIqDecoder::new().push(&data, &mut whole, max);
        let mut cuts: Vec<usize> = cuts.into_iter().filter(|c| *c <= data.len()).collect();
        cuts.sort_unstable();
        let mut d = I16LeIqDecoder::new();
        let mut split = Vec::new();
        let mut last = 0;
        for c in cuts.into_iter().chain(std::iter::once(data.len())) {
            let left = max - split.len();
            d.push(&data[last..c], &mut split, left);
            last = c;
        }
        prop_assert_eq!(whole.len(), (data.len() / 4).min(max));
        prop_assert_eq!(split, whole);
    }
}
