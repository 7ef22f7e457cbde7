//! The arithmetic of a scale sweep, with no database: a straight line fitted to cost
//! against scale on log-log axes (its slope is the growth exponent: 1 grows with the
//! table, 0 stays flat), the slope's standard error and 95% interval, and the spread
//! of a query's timing samples.

/// A least-squares line through `(ln scale, ln value)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFit {
    /// The growth exponent: value ∝ scale^slope.
    pub slope: f64,
    /// ln(value) at scale 1.
    pub intercept: f64,
    /// The slope's standard error; `None` when nothing says how far the points stray
    /// (two points of exact counts, which any line goes through).
    pub std_error: Option<f64>,
    /// Half the width of the slope's 95% interval (Student's t on `points - 2`
    /// degrees of freedom, or on 1 when only the points' own noise is known).
    pub half_width: Option<f64>,
    /// The share of ln(value)'s variance the line explains; `None` when the values
    /// do not vary (a flat line explains a constant exactly, and r² is 0/0).
    pub r_squared: Option<f64>,
    pub points: usize,
}

/// Fits `ln value = intercept + slope · ln scale` by ordinary least squares.
///
/// `point_sigma`, when given, is each point's own standard error in ln(value) (a
/// median of noisy timings): the slope's error is then the larger of what the
/// residuals and what the points' noise imply, so three lucky timings on a line are
/// not taken for a law. Without it (exact counts) only the residuals count, and two
/// points give no error at all.
///
/// Values are positive; a count of 0 is taken as 1 by the caller. `None` with fewer
/// than two points or fewer than two distinct scales.
pub fn log_log(points: &[(f64, f64)], point_sigma: Option<&[f64]>) -> Option<LineFit> {
    let n = points.len();
    if n < 2 || points.iter().any(|(x, y)| *x <= 0.0 || *y <= 0.0) {
        return None;
    }
    let xs: Vec<f64> = points.iter().map(|(x, _)| x.ln()).collect();
    let ys: Vec<f64> = points.iter().map(|(_, y)| y.ln()).collect();
    let mean_x = xs.iter().sum::<f64>() / n as f64;
    let mean_y = ys.iter().sum::<f64>() / n as f64;
    let sxx: f64 = xs.iter().map(|x| (x - mean_x).powi(2)).sum();
    if sxx <= f64::EPSILON {
        return None;
    }
    let sxy: f64 = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| (x - mean_x) * (y - mean_y))
        .sum();
    let slope = sxy / sxx;
    let intercept = mean_y - slope * mean_x;
    let residuals: f64 = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| (y - intercept - slope * x).powi(2))
        .sum();
    let total: f64 = ys.iter().map(|y| (y - mean_y).powi(2)).sum();
    let residual_variance = (n > 2).then(|| residuals / (n - 2) as f64);
    let noise_variance = point_sigma.map(|sigmas| {
        sigmas.iter().map(|sigma| sigma * sigma).sum::<f64>() / sigmas.len().max(1) as f64
    });
    let variance = match (residual_variance, noise_variance) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let std_error = variance.map(|variance| (variance / sxx).sqrt());
    let degrees = n.saturating_sub(2).max(1);
    Some(LineFit {
        slope,
        intercept,
        std_error,
        half_width: std_error.map(|error| error * t_975(degrees)),
        r_squared: (total > 1e-12).then(|| (1.0 - residuals / total).clamp(0.0, 1.0)),
        points: n,
    })
}

/// Student's t at 97.5% (a two-sided 95% interval) for `degrees` degrees of freedom.
pub fn t_975(degrees: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match degrees {
        0 => f64::INFINITY,
        d if d <= TABLE.len() => TABLE[d - 1],
        _ => 1.960,
    }
}

/// The median of `samples` (the mean of the middle two for an even count); `None`
/// for none.
pub fn median(samples: &[f64]) -> Option<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let len = sorted.len();
    match len {
        0 => None,
        _ if len % 2 == 1 => Some(sorted[len / 2]),
        _ => Some((sorted[len / 2 - 1] + sorted[len / 2]) / 2.0),
    }
}

/// The median absolute deviation from the median: a spread that one stray run does
/// not inflate.
pub fn median_absolute_deviation(samples: &[f64]) -> Option<f64> {
    let center = median(samples)?;
    let deviations: Vec<f64> = samples.iter().map(|x| (x - center).abs()).collect();
    median(&deviations)
}

/// The standard error of ln(median) of positive `samples`: the spread of ln(sample)
/// (1.4826 × its MAD, which estimates a standard deviation) times 1.253 (the median's
/// efficiency) over √count. `None` for fewer than two samples, whose spread is unknown.
pub fn log_median_error(samples: &[f64]) -> Option<f64> {
    if samples.len() < 2 || samples.iter().any(|x| *x <= 0.0) {
        return None;
    }
    let logs: Vec<f64> = samples.iter().map(|x| x.ln()).collect();
    let sigma = 1.4826 * median_absolute_deviation(&logs)?;
    Some(1.253 * sigma / (samples.len() as f64).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_count_proportional_to_the_scale_has_slope_one_and_no_error() {
        let points = [(1e4, 2e4), (1e5, 2e5), (1e6, 2e6)];
        let fit = log_log(&points, None).unwrap();
        assert!(close(fit.slope, 1.0), "{fit:?}");
        assert!(close(fit.intercept, 2f64.ln()), "{fit:?}");
        assert!(fit.std_error.unwrap() < 1e-9);
        assert!(close(fit.r_squared.unwrap(), 1.0));
        assert_eq!(fit.points, 3);
    }

    #[test]
    fn a_constant_is_flat_and_has_no_r_squared() {
        let fit = log_log(&[(1e4, 26.0), (1e5, 26.0), (1e6, 26.0)], None).unwrap();
        assert!(close(fit.slope, 0.0));
        assert_eq!(fit.r_squared, None);
        assert!(close(fit.std_error.unwrap(), 0.0));
    }

    #[test]
    fn two_exact_points_give_a_slope_but_no_spread() {
        let fit = log_log(&[(1e4, 10.0), (1e6, 100.0)], None).unwrap();
        assert!(close(fit.slope, 0.5));
        assert_eq!(fit.std_error, None);
        assert_eq!(fit.half_width, None);
    }

    #[test]
    fn scattered_points_widen_the_interval() {
        // Slope 1 with a kink: the residuals give a standard error, and with one
        // degree of freedom t is 12.7.
        let fit = log_log(&[(1e4, 1e4), (1e5, 3e5), (1e6, 1e6)], None).unwrap();
        let error = fit.std_error.unwrap();
        assert!(error > 0.1, "{fit:?}");
        assert!(close(fit.half_width.unwrap(), error * 12.706));
    }

    #[test]
    fn the_points_own_noise_sets_a_floor_under_the_error() {
        let points = [(1e4, 1.0), (1e5, 1.0), (1e6, 1.0)];
        let fit = log_log(&points, Some(&[0.2, 0.2, 0.2])).unwrap();
        // sigma 0.2 over Sxx = 2 ln(10)^2.
        let expected = 0.2 / (2.0 * 10f64.ln().powi(2)).sqrt();
        assert!(close(fit.std_error.unwrap(), expected), "{fit:?}");
        // Two noisy points: the error is the noise's, on one degree of freedom.
        let fit = log_log(&[(1e4, 1.0), (1e6, 2.0)], Some(&[0.1, 0.1])).unwrap();
        assert!(fit.std_error.is_some());
    }

    #[test]
    fn too_few_or_unusable_points_give_no_fit() {
        assert_eq!(log_log(&[(1e4, 1.0)], None), None);
        assert_eq!(log_log(&[(1e4, 1.0), (1e4, 2.0)], None), None);
        assert_eq!(log_log(&[(1e4, 0.0), (1e5, 2.0)], None), None);
    }

    #[test]
    fn medians_and_spreads_resist_a_stray_run() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(
            median_absolute_deviation(&[1.0, 2.0, 3.0, 100.0]),
            Some(1.0)
        );
        assert_eq!(log_median_error(&[1.0]), None);
        assert!(close(log_median_error(&[2.0, 2.0, 2.0]).unwrap(), 0.0));
        assert!(log_median_error(&[1.0, 2.0, 4.0]).unwrap() > 0.0);
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(100), 1.96);
    }
}
