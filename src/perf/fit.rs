//! Nonlinear least squares (Levenberg–Marquardt with a forward-difference Jacobian), for
//! calibrating the cost model's efficiencies against measurements.

use nalgebra::{DMatrix, DVector};

/// Result of a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct FitResult {
    pub x: Vec<f64>,
    /// ½ Σ r² at the start and at the end.
    pub cost_start: f64,
    pub cost_end: f64,
    pub iterations: u32,
    pub evaluations: u32,
}

/// Minimises ½ Σ r(x)² from `x0`. `residuals` must return the same number of values for every
/// `x`. Deterministic: no randomness, fixed step rules.
pub fn levenberg_marquardt(mut residuals: impl FnMut(&[f64]) -> Vec<f64>, x0: &[f64], max_iter: u32) -> FitResult {
    let n = x0.len();
    let mut x = DVector::from_column_slice(x0);
    let mut r = DVector::from_vec(residuals(x.as_slice()));
    let mut evals = 1;
    let cost = |r: &DVector<f64>| 0.5 * r.norm_squared();
    let cost_start = cost(&r);
    let mut lambda = 1e-2;
    let mut it = 0;
    while it < max_iter {
        it += 1;
        let m = r.len();
        let mut jac = DMatrix::<f64>::zeros(m, n);
        for j in 0..n {
            let h = 1e-4 * (1.0 + x[j].abs());
            let mut xp = x.clone();
            xp[j] += h;
            let rp = DVector::from_vec(residuals(xp.as_slice()));
            evals += 1;
            jac.set_column(j, &((rp - &r) / h));
        }
        let jtj = jac.transpose() * &jac;
        let g = jac.transpose() * &r;
        let mut improved = false;
        for _ in 0..10 {
            let mut a = jtj.clone();
            for k in 0..n {
                a[(k, k)] += lambda * jtj[(k, k)].max(1e-9);
            }
            let Some(step) = a.lu().solve(&(-&g)) else {
                lambda *= 10.0;
                continue;
            };
            let xn = &x + &step;
            let rn = DVector::from_vec(residuals(xn.as_slice()));
            evals += 1;
            if cost(&rn) < cost(&r) {
                let rel = (cost(&r) - cost(&rn)) / cost(&r).max(1e-300);
                x = xn;
                r = rn;
                lambda = (lambda / 3.0).max(1e-9);
                improved = true;
                if rel < 1e-7 {
                    it = max_iter;
                }
                break;
            }
            lambda *= 4.0;
        }
        if !improved {
            break;
        }
    }
    FitResult {
        x: x.as_slice().to_vec(),
        cost_start,
        cost_end: cost(&r),
        iterations: it.min(max_iter),
        evaluations: evals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_the_parameters_of_a_roofline() {
        // t(n) = max(a·n, b) + c over a range of sizes; the fit must recover a, b, c.
        let (a, b, c) = (0.02, 3.0, 0.5);
        let ns: Vec<f64> = (1..60).map(|i| i as f64 * 7.0).collect();
        let meas: Vec<f64> = ns.iter().map(|&n| (a * n).max(b) + c).collect();
        let fit = levenberg_marquardt(
            |x| {
                ns.iter()
                    .zip(&meas)
                    .map(|(&n, &m)| ((x[0].exp() * n).max(x[1].exp()) + x[2].exp()) / m - 1.0)
                    .collect()
            },
            &[0.01f64.ln(), 1.0f64.ln(), 0.1f64.ln()],
            200,
        );
        assert!(fit.cost_end < 1e-10, "{fit:?}");
        assert!((fit.x[0].exp() - a).abs() / a < 1e-3);
        assert!((fit.x[1].exp() - b).abs() / b < 1e-3);
        assert!((fit.x[2].exp() - c).abs() / c < 1e-3);
    }
}
