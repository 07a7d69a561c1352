//! Per-sample statistics of a capture (mean power, mean, clipped samples), summed in a fixed
//! order so that the result depends neither on how the capture is chunked nor on the SIMD
//! width the machine runs.
//!
//! The sums are kept in `f32` lanes within blocks of [`STAT_BLOCK`] samples aligned to each
//! sample's index in the capture, then added block by block in `f64`. Float `k` of a block
//! (IQ samples are `re, im` pairs) always goes to lane `k % LANES`, in order: any split of the
//! block into pushes performs exactly the same additions.

use num_complex::{Complex32, Complex64};

use crate::error::{Error, Result};

/// Samples per block of `f32` sums.
const STAT_BLOCK: usize = 4096;
/// `f32` lanes per block.
const LANES: usize = 16;

/// Statistics of every sample summed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct SampleStats {
    pub(crate) samples: u64,
    pub(crate) power: f64,
    pub(crate) sum: Complex64,
    pub(crate) clipped: u64,
}

/// The reduced sums of one block (or of the unfinished one).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BlockSums {
    power: f32,
    sum_re: f32,
    sum_im: f32,
    clipped: u32,
}

impl BlockSums {
    fn is_finite(&self) -> bool {
        self.power.is_finite() && self.sum_re.is_finite() && self.sum_im.is_finite()
    }
}

/// Lane sums of the unfinished block.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Lanes {
    power: [f32; LANES],
    sum: [f32; LANES],
    /// Clip flags; an IQ sample is counted in both lanes of its pair.
    clipped: [u32; LANES],
}

/// A sample type the statistics take: `f32` (audio) or [`Complex32`] (IQ).
pub(crate) trait StatSample: bytemuck::Pod {
    /// Floats per sample.
    const FLOATS: usize;
    /// Whether float `l` of `f` (a slice starting on a sample) belongs to a clipped sample.
    fn clipped(f: &[f32], l: usize, clip: f32) -> bool;
    /// [`StatSample::clipped`] for the `LANES` floats of `f` (0 or 1 each).
    fn clipped_lanes(f: &[f32; LANES], clip: f32) -> [u32; LANES];
    /// The block sums of the lanes.
    fn reduce(lanes: &Lanes) -> BlockSums;
    /// Why the sample cannot be analysed, if it cannot.
    fn defect(self) -> Option<String>;
}

impl StatSample for Complex32 {
    const FLOATS: usize = 2;
    #[inline(always)]
    fn clipped(f: &[f32], l: usize, clip: f32) -> bool {
        // `max(|re|, |im|) >= clip`, also for NaN, without a pairwise max.
        (f[l].abs() >= clip) | (f[l ^ 1].abs() >= clip)
    }
    #[inline(always)]
    fn clipped_lanes(f: &[f32; LANES], clip: f32) -> [u32; LANES] {
        let hit = f.map(|v| u32::from(v.abs() >= clip));
        std::array::from_fn(|l| hit[l] | hit[l ^ 1])
    }
    fn reduce(lanes: &Lanes) -> BlockSums {
        BlockSums {
            power: lanes.power.iter().sum(),
            sum_re: lanes.sum.iter().step_by(2).sum(),
            sum_im: lanes.sum.iter().skip(1).step_by(2).sum(),
            clipped: lanes.clipped.iter().sum::<u32>() / 2,
        }
    }
    fn defect(self) -> Option<String> {
        if !(self.re.is_finite() && self.im.is_finite()) {
            Some(format!("is not finite ({self})"))
        } else if !(self.re * self.re + self.im * self.im).is_finite() {
            Some(format!("({self}) is too large: |x|^2 overflows f32"))
        } else {
            None
        }
    }
}

impl StatSample for f32 {
    const FLOATS: usize = 1;
    #[inline(always)]
    fn clipped(f: &[f32], l: usize, clip: f32) -> bool {
        f[l].abs() >= clip
    }
    #[inline(always)]
    fn clipped_lanes(f: &[f32; LANES], clip: f32) -> [u32; LANES] {
        f.map(|v| u32::from(v.abs() >= clip))
    }
    fn reduce(lanes: &Lanes) -> BlockSums {
        BlockSums {
            power: lanes.power.iter().sum(),
            sum_re: lanes.sum.iter().sum(),
            sum_im: 0.0,
            clipped: lanes.clipped.iter().sum(),
        }
    }
    fn defect(self) -> Option<String> {
        if !self.is_finite() {
            Some(format!("is not finite ({self})"))
        } else if !(self * self).is_finite() {
            Some(format!("({self}) is too large: x^2 overflows f32"))
        } else {
            None
        }
    }
}

impl Lanes {
    /// Adds floats `f` (whole samples) whose first float is float `at` of the block.
    #[inline(always)]
    fn add<T: StatSample>(&mut self, f: &[f32], at: usize, clip: f32) {
        let (mut p, mut s, mut c) = (self.power, self.sum, self.clipped);
        let lane0 = at % LANES;
        let head = ((LANES - lane0) % LANES).min(f.len());
        for i in 0..head {
            let l = lane0 + i;
            p[l] += f[i] * f[i];
            s[l] += f[i];
            c[l] += u32::from(T::clipped(f, i, clip));
        }
        let chunks = f[head..].chunks_exact(LANES);
        let rest = chunks.remainder();
        for ch in chunks {
            let Ok(ch) = <&[f32; LANES]>::try_from(ch) else {
                continue;
            };
            let hit = T::clipped_lanes(ch, clip);
            for l in 0..LANES {
                p[l] += ch[l] * ch[l];
                s[l] += ch[l];
                c[l] += hit[l];
            }
        }
        for (l, &v) in rest.iter().enumerate() {
            p[l] += v * v;
            s[l] += v;
            c[l] += u32::from(T::clipped(rest, l, clip));
        }
        (self.power, self.sum, self.clipped) = (p, s, c);
    }
}

/// Block-aligned per-sample statistics of a stream, with a checkpoint to undo a rejected push.
#[derive(Debug, Clone)]
pub(crate) struct SampleSums<T> {
    clip: f32,
    /// Samples summed (finished blocks and the unfinished one).
    samples: u64,
    /// Totals of the finished blocks.
    total: SampleStats,
    lanes: Lanes,
    saved: (u64, SampleStats, Lanes),
    _sample: std::marker::PhantomData<T>,
}

fn first_defect<T: StatSample>(x: &[T], first_index: u64) -> Error {
    for (k, v) in x.iter().enumerate() {
        if let Some(why) = v.defect() {
            return Error::invalid("samples", format!("sample {} {why}", first_index + k as u64));
        }
    }
    Error::invalid(
        "samples",
        format!(
            "samples {first_index}..{} are too large: their power overflows f32",
            first_index + x.len() as u64
        ),
    )
}

impl<T: StatSample> SampleSums<T> {
    pub(crate) fn new(clip: f32) -> Self {
        SampleSums {
            clip,
            samples: 0,
            total: SampleStats::default(),
            lanes: Lanes::default(),
            saved: (0, SampleStats::default(), Lanes::default()),
            _sample: std::marker::PhantomData,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.samples = 0;
        self.total = SampleStats::default();
        self.lanes = Lanes::default();
    }

    /// Samples summed so far.
    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    /// Remembers the current state for [`SampleSums::rollback`].
    pub(crate) fn checkpoint(&mut self) {
        self.saved = (self.samples, self.total, self.lanes);
    }

    /// Returns to the last checkpoint.
    pub(crate) fn rollback(&mut self) {
        (self.samples, self.total, self.lanes) = self.saved;
    }

    /// Adds the next samples of the capture. On a non-finite or overflowing sample the error
    /// names it by its index in the capture; what was added before it stays added (callers
    /// roll back to their checkpoint).
    #[inline(always)]
    pub(crate) fn add(&mut self, x: &[T]) -> Result<()> {
        let mut rest = x;
        while !rest.is_empty() {
            let in_block = (self.samples % STAT_BLOCK as u64) as usize;
            let take = (STAT_BLOCK - in_block).min(rest.len());
            let (part, r) = rest.split_at(take);
            self.lanes
                .add::<T>(bytemuck::cast_slice(part), in_block * T::FLOATS, self.clip);
            let sums = T::reduce(&self.lanes);
            if !sums.is_finite() {
                return Err(first_defect(part, self.samples));
            }
            self.samples += take as u64;
            if in_block + take == STAT_BLOCK {
                add_block(&mut self.total, sums, STAT_BLOCK as u64);
                self.lanes = Lanes::default();
            }
            rest = r;
        }
        Ok(())
    }

    /// Totals including the unfinished block (computed, not consumed).
    pub(crate) fn totals(&self) -> SampleStats {
        let mut t = self.total;
        let open = self.samples % STAT_BLOCK as u64;
        if open > 0 {
            add_block(&mut t, T::reduce(&self.lanes), open);
        }
        t
    }
}

fn add_block(t: &mut SampleStats, b: BlockSums, samples: u64) {
    t.samples += samples;
    t.power += f64::from(b.power);
    t.sum += Complex64::new(f64::from(b.sum_re), f64::from(b.sum_im));
    t.clipped += u64::from(b.clipped);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sums as the straightforward definition computes them: one block at a time, lane
    /// `k % 16` for float `k` of the block.
    fn reference(x: &[Complex32], clip: f32) -> SampleStats {
        let mut t = SampleStats::default();
        for block in x.chunks(STAT_BLOCK) {
            let f: &[f32] = bytemuck::cast_slice(block);
            let (mut p, mut s) = ([0f32; LANES], [0f32; LANES]);
            let mut c = 0u32;
            for (k, &v) in f.iter().enumerate() {
                p[k % LANES] += v * v;
                s[k % LANES] += v;
            }
            for v in block {
                c += u32::from(v.re.abs().max(v.im.abs()) >= clip);
            }
            let b = BlockSums {
                power: p.iter().sum(),
                sum_re: s.iter().step_by(2).sum(),
                sum_im: s.iter().skip(1).step_by(2).sum(),
                clipped: c,
            };
            add_block(&mut t, b, block.len() as u64);
        }
        t
    }

    #[test]
    fn any_split_gives_the_reference_sums_bit_for_bit() {
        let mut s = 7u32;
        let mut r = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as f32 / u32::MAX as f32 * 2.2 - 1.1
        };
        let x: Vec<Complex32> = (0..10_000).map(|_| Complex32::new(r(), r())).collect();
        let want = reference(&x, 0.999);
        assert!(want.clipped > 0);
        for split in [
            &[10_000usize][..],
            &[1, 4095, 4096, 1808],
            &[3, 5, 7, 11, 13, 9961],
            &[4097, 0, 5903],
        ] {
            let mut sums = SampleSums::<Complex32>::new(0.999);
            let mut off = 0;
            for &len in split {
                sums.add(&x[off..off + len]).unwrap();
                off += len;
            }
            assert_eq!(sums.totals(), want, "split {split:?}");
        }
    }

    #[test]
    fn rollback_restores_the_checkpoint() {
        let x = vec![Complex32::new(0.5, -0.25); 5000];
        let mut sums = SampleSums::<Complex32>::new(0.999);
        sums.add(&x[..100]).unwrap();
        let before = sums.totals();
        sums.checkpoint();
        let mut bad = x.clone();
        bad[4500] = Complex32::new(f32::INFINITY, 0.0);
        let e = sums.add(&bad).unwrap_err();
        assert!(e.to_string().contains("sample 4600 is not finite"), "{e}");
        sums.rollback();
        assert_eq!(sums.totals(), before);
        assert_eq!(sums.samples(), 100);
    }
}
