use super::*;

fn spec() -> GatewaySpec {
    GatewaySpec {
        bucket: None,
        max_queue: None,
        order: GatewayOrder::Fifo,
        sheddable_priority: None,
        queue_timeout_ns: None,
        client_timeout_ns: None,
        saturation: None,
    }
}

fn req(ticket: u64, arrival_ns: u64, priority: u32) -> Request {
    Request {
        ticket,
        arrival_ns,
        priority,
        ttft_slo_ns: None,
    }
}

/// Drives a backlog of `n` requests offered at t = 0 through the gateway as the simulation does
/// (release while tokens last, wake at the next token); returns the release times.
fn drain(g: &mut Gateway<u64>, n: u64) -> Vec<u64> {
    let mut released = Vec::new();
    for t in 0..n {
        if let Offer::Release(x) = g.offer(t, &req(t, 0, 0), 0, false) {
            released.push((x, 0));
        }
    }
    let mut now = 0;
    while !g.is_empty() {
        match g.release(now) {
            Ok(Some(x)) => released.push((x, now)),
            Ok(None) => break,
            Err(t) => {
                assert!(t > now, "the next token comes later");
                now = t;
            }
        }
    }
    released.iter().map(|&(_, t)| t).collect()
}

#[test]
fn a_token_bucket_admits_exactly_rate_times_t_plus_burst() {
    // Hand calculation: rate 10/s, burst 5, 100 requests waiting from t = 0. The full bucket
    // admits 5 at once; then one token every 100 ms: by t it has admitted ⌊10 t + 5⌋.
    let mut g = Gateway::new(GatewaySpec {
        bucket: Some((10.0, 5)),
        ..spec()
    });
    let times = drain(&mut g, 100);
    assert_eq!(times.len(), 100);
    for (t_s, expect) in [(0.0, 5), (0.05, 5), (0.1, 6), (0.25, 7), (1.0, 15), (9.5, 100)] {
        let t_ns = (t_s * 1e9) as u64;
        let admitted = times.iter().filter(|&&x| x <= t_ns).count();
        let formula = (10.0 * t_s + 5.0_f64).floor().min(100.0) as usize;
        assert_eq!(formula, expect, "hand calculation at t = {t_s}");
        assert_eq!(admitted, expect, "admitted by t = {t_s} s");
    }
    // The 6th request waits exactly one token interval, 100 ms.
    assert_eq!(times[5], 100_000_000);
}

#[test]
fn a_token_bucket_with_a_fractional_rate_stays_exact() {
    // Rate 2.5/s, burst 1: tokens at 0, 0.4 s, 0.8 s, … ⌊2.5 t + 1⌋ by t.
    let mut g = Gateway::new(GatewaySpec {
        bucket: Some((2.5, 1)),
        ..spec()
    });
    let times = drain(&mut g, 11);
    let expect: Vec<u64> = (0..11).map(|k| k * 400_000_000).collect();
    assert_eq!(times, expect);
}

#[test]
fn an_idle_bucket_refills_only_to_its_burst() {
    let mut b = TokenBucket::new(10.0, 3);
    for _ in 0..3 {
        assert!(b.try_take(0));
    }
    assert!(!b.try_take(0));
    // 10 s idle would be 100 tokens; the bucket holds 3.
    let t = 10_000_000_000;
    for _ in 0..3 {
        assert!(b.try_take(t));
    }
    assert!(!b.try_take(t));
    assert_eq!(b.next_token_ns(t), t + 100_000_000);
}

#[test]
fn a_full_queue_sheds_the_lowest_priority_latest_request() {
    // The bucket admits the first request and then nothing for 1000 s: the rest queue.
    let mut g = Gateway::new(GatewaySpec {
        bucket: Some((0.001, 1)),
        max_queue: Some(2),
        order: GatewayOrder::Priority,
        ..spec()
    });
    assert_eq!(g.offer(0, &req(0, 0, 0), 0, false), Offer::Release(0));
    assert_eq!(g.offer(1, &req(1, 1, 1), 1, false), Offer::Queued);
    assert_eq!(g.offer(2, &req(2, 2, 0), 2, false), Offer::Queued);
    // Full: a priority-0 request displaces the priority-1 one.
    assert_eq!(g.offer(3, &req(3, 3, 0), 3, false), Offer::Shed(1, Shed::QueueFull));
    // A priority-1 request is worse than everything queued: it is shed itself.
    assert_eq!(g.offer(4, &req(4, 4, 1), 4, false), Offer::Shed(4, Shed::QueueFull));
    // Among equals the latest goes: the newcomer.
    assert_eq!(g.offer(5, &req(5, 5, 0), 5, false), Offer::Shed(5, Shed::QueueFull));
    assert_eq!(g.len(), 2);
    // Released in priority then arrival order, one token each.
    let t = 1_000_000_000_000;
    assert_eq!(g.release(t), Ok(Some(2)));
    assert!(g.release(t).is_err());
    assert_eq!(g.release(2 * t), Ok(Some(3)));
}

#[test]
fn sheddable_classes_are_shed_instead_of_waiting_and_pass_when_nothing_waits() {
    let mut g = Gateway::new(GatewaySpec {
        sheddable_priority: Some(1),
        ..spec()
    });
    // Nothing waits and no replica is saturated: even a sheddable request passes.
    assert_eq!(g.offer(0, &req(0, 0, 1), 0, false), Offer::Release(0));
    // Saturated: a critical request waits, a sheddable one is shed.
    assert_eq!(g.offer(1, &req(1, 1, 0), 1, true), Offer::Queued);
    assert_eq!(g.offer(2, &req(2, 2, 1), 2, true), Offer::Shed(2, Shed::Sheddable));
    assert_eq!(g.remove(1), Some(1));
    assert!(g.is_empty());
}

#[test]
fn deadline_order_releases_the_earliest_slo_deadline_first() {
    let mut g = Gateway::new(GatewaySpec {
        order: GatewayOrder::Deadline,
        ..spec()
    });
    let with_slo = |ticket, arrival_ns, slo| Request {
        ttft_slo_ns: slo,
        ..req(ticket, arrival_ns, 0)
    };
    // Saturated, so all wait: deadlines 0+10 s, 1+0.5 s, 2 + none, 3+1 s (in ms units below).
    let ms = 1_000_000;
    assert_eq!(g.offer(0, &with_slo(0, 0, Some(10_000 * ms)), 0, true), Offer::Queued);
    assert_eq!(g.offer(1, &with_slo(1, ms, Some(500 * ms)), ms, true), Offer::Queued);
    assert_eq!(g.offer(2, &with_slo(2, 2 * ms, None), 2 * ms, true), Offer::Queued);
    assert_eq!(
        g.offer(3, &with_slo(3, 3 * ms, Some(1000 * ms)), 3 * ms, true),
        Offer::Queued
    );
    let order: Vec<u64> = (0..4).map(|_| g.release(5 * ms).unwrap().unwrap()).collect();
    assert_eq!(order, vec![1, 3, 0, 2]);
}

#[test]
fn saturation_is_queue_depth_or_kv_use_at_the_threshold() {
    let s = Saturation {
        queue_depth: Some(4),
        kv_fraction: Some(0.8),
    };
    let load = |queued| ReplicaLoad {
        outstanding_requests: queued,
        outstanding_tokens: 0,
        queued,
    };
    assert!(!s.saturated(&load(3), 79, 100));
    assert!(s.saturated(&load(4), 0, 100));
    assert!(s.saturated(&load(0), 80, 100));
    let g: Gateway<u64> = Gateway::new(GatewaySpec {
        saturation: Some(s),
        ..spec()
    });
    // Saturated only when every replica is.
    assert!(!g.saturated([(load(4), 0, 100), (load(0), 10, 100)].into_iter()));
    assert!(g.saturated([(load(4), 0, 100), (load(0), 90, 100)].into_iter()));
}
