//! A QRS detector after Pan and Tompkins ("A real-time QRS detection algorithm", IEEE Trans.
//! Biomed. Eng. 32(3), 1985), for deriving RR intervals from an ECG stream when a device sends no RR
//! stream: band-pass 5–15 Hz (here: the difference of two moving averages), derivative, squaring,
//! a 150 ms moving-window integration, then an adaptive threshold between running estimates of the
//! signal and noise peaks, a 200 ms refractory period, and the R peak located as the largest
//! absolute band-passed value in the QRS found.

/// The R-peak sample indices of `ecg` (any unit) sampled at `rate_hz`.
pub fn r_peaks(ecg: &[f32], rate_hz: f64) -> Vec<usize> {
    let n = ecg.len();
    let rate = rate_hz.max(50.0);
    let win = |seconds: f64| ((seconds * rate).round() as usize).max(1);
    if n < win(1.0) {
        return Vec::new();
    }
    // Band-pass: a ~15 Hz low-pass (moving average of 1/30 s) minus a ~5 Hz one (1/10 s): keeps the
    // QRS's energy, drops baseline wander and the slower P and T waves.
    let x: Vec<f64> = ecg.iter().map(|v| f64::from(*v)).collect();
    let fast = moving_average(&x, win(1.0 / 30.0));
    let slow = moving_average(&x, win(1.0 / 10.0));
    let band: Vec<f64> = fast.iter().zip(&slow).map(|(f, s)| f - s).collect();
    // Derivative, squaring, integration over 150 ms.
    let mut sq = vec![0.0; n];
    for i in 2..n.saturating_sub(2) {
        let d = (2.0 * band[i + 1] + band[i + 2] - band[i - 2] - 2.0 * band[i - 1]) * rate / 8.0;
        sq[i] = d * d;
    }
    let integrated = moving_average(&sq, win(0.150));
    // Thresholds learnt from the first two seconds, then adapted peak by peak.
    let learn = win(2.0).min(n);
    let max0 = integrated[..learn].iter().cloned().fold(0.0, f64::max);
    let mut signal = max0 * 0.5;
    let mut noise = integrated[..learn].iter().sum::<f64>() / learn as f64 * 0.5;
    let refractory = win(0.200);
    let half_qrs = win(0.075);
    let mut peaks: Vec<usize> = Vec::new();
    let mut i = 1;
    while i + 1 < n {
        let v = integrated[i];
        if v > integrated[i - 1] && v >= integrated[i + 1] {
            let threshold = noise + 0.25 * (signal - noise);
            let far_enough = peaks.last().is_none_or(|&p| i > p + refractory);
            if v > threshold && far_enough {
                signal = 0.125 * v + 0.875 * signal;
                // The integrated wave lags the QRS by about half its window: look back for the R.
                let from = i.saturating_sub(win(0.150) + half_qrs);
                let to = (i + half_qrs).min(n - 1);
                let r = (from..=to)
                    .max_by(|&a, &b| band[a].abs().total_cmp(&band[b].abs()))
                    .unwrap_or(i);
                if peaks.last().is_none_or(|&p| r > p + refractory) {
                    peaks.push(r);
                }
            } else {
                noise = 0.125 * v + 0.875 * noise;
            }
        }
        i += 1;
    }
    peaks
}

/// RR intervals (ms) between consecutive `peaks` at `rate_hz`.
pub fn rr_ms(peaks: &[usize], rate_hz: f64) -> Vec<f64> {
    peaks
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 * 1000.0 / rate_hz)
        .collect()
}

/// A centred moving average of width `w`.
fn moving_average(x: &[f64], w: usize) -> Vec<f64> {
    let n = x.len();
    let mut prefix = vec![0.0; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + x[i];
    }
    (0..n)
        .map(|i| {
            let lo = i.saturating_sub(w / 2);
            let hi = (i + w - w / 2).min(n);
            (prefix[hi] - prefix[lo]) / (hi - lo) as f64
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::physiology::{Episode, Patient};

    /// A minute of ECG at `rate` and the true R-peak times (s): in the generator, beat k spans
    /// [Σ rr<k, Σ rr≤k) on the limit cycle and its R wave is at phase 0, half-way through.
    fn minute(seed: u64, rate: u32, episode: Episode) -> (Vec<f32>, Vec<f64>) {
        let mut p = Patient::new(seed, rate);
        p.episode = episode;
        let mut ecg = Vec::new();
        let mut rr = Vec::new();
        for _ in 0..60 {
            let s = p.second();
            ecg.extend(s.ecg_mv);
            rr.extend(s.rr_ms.into_iter().map(|v| f64::from(v) / 1000.0));
        }
        let mut t = 0.0;
        let truth = rr
            .iter()
            .map(|r| {
                let peak = t + r / 2.0;
                t += r;
                peak
            })
            .collect();
        (ecg, truth)
    }

    #[test]
    fn detected_beats_match_the_simulators_beat_times() {
        for (seed, rate, episode) in [
            (1, 250, Episode::Normal),
            (2, 500, Episode::Normal),
            (3, 250, Episode::Tachycardia),
            (4, 250, Episode::Bradycardia),
            (5, 250, Episode::AtrialFibrillation),
        ] {
            let (ecg, truth) = minute(seed, rate, episode);
            let found: Vec<f64> = r_peaks(&ecg, f64::from(rate))
                .into_iter()
                .map(|i| i as f64 / f64::from(rate))
                .collect();
            // A detection within 50 ms of a true beat is a hit (skip the first and last second).
            let inner: Vec<f64> = truth
                .iter()
                .cloned()
                .filter(|t| *t > 1.0 && *t < 59.0)
                .collect();
            let hits = inner
                .iter()
                .filter(|t| found.iter().any(|f| (f - *t).abs() <= 0.05))
                .count();
            let extra = found
                .iter()
                .filter(|f| **f > 1.0 && **f < 59.0)
                .filter(|f| !truth.iter().any(|t| (*f - t).abs() <= 0.05))
                .count();
            let sensitivity = hits as f64 / inner.len() as f64;
            assert!(
                sensitivity >= 0.99 && extra == 0,
                "{episode:?} at {rate} Hz: {hits}/{} found, {extra} false",
                inner.len()
            );
        }
    }
}
