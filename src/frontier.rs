//! The Pareto frontier of two minimised objectives (cost and latency): a leaf shared by sweep
//! reports and plans.

/// The indices of the Pareto frontier of (x, y) points, both minimised, in x order.
pub fn pareto(points: &[(f64, f64)]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].0.is_finite() && points[i].1.is_finite())
        .collect();
    idx.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[a].1.total_cmp(&points[b].1))
    });
    let mut best = f64::INFINITY;
    idx.into_iter()
        .filter(|&i| {
            let keep = points[i].1 < best;
            if keep {
                best = points[i].1;
            }
            keep
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_exactly_the_points_nothing_beats_on_both_axes() {
        // (1,5) (2,3) (3,4) (4,1) (2,6) (nan,0): (3,4) is beaten by (2,3), (2,6) by (2,3).
        let pts = [
            (1.0, 5.0),
            (2.0, 3.0),
            (3.0, 4.0),
            (4.0, 1.0),
            (2.0, 6.0),
            (f64::NAN, 0.0),
        ];
        assert_eq!(pareto(&pts), vec![0, 1, 3]);
        assert!(pareto(&[]).is_empty());
    }
}
