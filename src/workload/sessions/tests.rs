use super::*;
use rand::SeedableRng;

fn spec(turns: u32, think_ms: f64) -> SessionSpec {
    SessionSpec {
        turns: CountSpec::Fixed { n: turns },
        new_tokens: None,
        think: DelaySpec::Fixed { ms: think_ms },
    }
}

/// Three turns, 64 new tokens in the first, 32 in each later one, 16 output tokens each:
/// turn 1 = 64; history 64 + 16 = 80, turn 2 = 80 + 32 = 112; history 112 + 16 = 128,
/// turn 3 = 128 + 32 = 160. Each completion but the last asks for the 250 ms think time.
#[test]
fn the_nth_prompt_is_the_history_plus_the_new_tokens() {
    let mut s = Sessions::new(
        &spec(3, 250.0),
        LengthSampler::Fixed(64),
        LengthSampler::Fixed(32),
        LengthSampler::Fixed(16),
        1,
        7,
        16,
    );
    assert_eq!(s.total_turns(), 3);
    let id = s.start(1_000);
    let mut prompts = Vec::new();
    let mut now = 1_000;
    for n in 0..3 {
        let Turn::Send {
            prompt,
            history,
            output,
        } = s.next_turn(id, Some(16), 8192)
        else {
            panic!("turn {n} sent")
        };
        prompts.push((prompt, history));
        now += 5_000_000;
        let think = s.turn_done(id, output, now);
        assert_eq!(think, (n < 2).then_some(250_000_000));
        now += think.unwrap_or(0);
    }
    assert_eq!(prompts, vec![(64, 0), (112, 80), (160, 128)]);
    assert_eq!((s.counts.completed, s.counts.turns_completed), (1, 3));
    // First send at 1 µs, last completion 3 × 5 ms + 2 × 250 ms later.
    assert_eq!(s.counts.completed_duration_ns, 3 * 5_000_000 + 2 * 250_000_000);
}

/// A context of 200 tokens, max_tokens 16: turn 3's prompt 160 + 16 fits, a fourth turn's
/// 176 + 32 = 208 + 16 does not: the session ends there, its fifth turn unsent too.
#[test]
fn a_turn_past_the_context_ends_its_session() {
    let mut s = Sessions::new(
        &spec(5, 0.0),
        LengthSampler::Fixed(64),
        LengthSampler::Fixed(32),
        LengthSampler::Fixed(16),
        1,
        7,
        16,
    );
    let id = s.start(0);
    for _ in 0..3 {
        let Turn::Send { output, .. } = s.next_turn(id, Some(16), 200) else {
            panic!("sent")
        };
        s.turn_done(id, output, 0);
    }
    assert_eq!(s.next_turn(id, Some(16), 200), Turn::Ended { unsent: 2 });
    assert_eq!(s.counts.ended_by_context, 1);
}

/// Full blocks of the history repeat; a partial last block does not. 16-token blocks: a
/// 40-token prompt is blocks (s, 0), (s, 1) and a unique third; its 56-token history (with 16
/// output tokens) caches (s, 0..3), all of which the next prompt (56 + 32 = 88) starts with.
#[test]
fn prompts_repeat_the_full_blocks_of_the_history() {
    let mut s = Sessions::new(
        &spec(2, 0.0),
        LengthSampler::Fixed(40),
        LengthSampler::Fixed(32),
        LengthSampler::Fixed(16),
        2,
        7,
        16,
    );
    let a = s.start(0);
    let b = s.start(0);
    let p1 = s.prompt_blocks(a, 40);
    let cached = s.cached_blocks(a, 56);
    let p2 = s.prompt_blocks(a, 88);
    assert_eq!(p1.len(), 3);
    assert_eq!(p1[..2], cached[..2]);
    assert!(!cached.contains(&p1[2]));
    assert_eq!(cached.len(), 3);
    assert_eq!(p2[..3], cached[..]);
    assert_eq!(p2.len(), 6);
    assert!(s.prompt_blocks(b, 40).iter().all(|h| !p1.contains(h)));
    assert_eq!(s.key(a), p1[0]);
}

/// Geometric turns of mean 4 (p = 1/4), cut at 1000: E[n] = 4 (the cut's share, (3/4)^1000,
/// is nil), Var = (1 − p)/p² = 12; tolerance 4 standard errors √(12 / n).
#[test]
fn geometric_turns_have_the_closed_form_mean() {
    let c = CountSpec::Geometric { mean: 4.0, max: 1000 };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let n = 100_000;
    let mean = (0..n).map(|_| c.sample(&mut rng) as f64).sum::<f64>() / n as f64;
    assert!((mean - 4.0).abs() < 4.0 * (12.0 / n as f64).sqrt(), "mean {mean}");
    // P(n = 1) = p = 1/4.
    let ones = (0..n).filter(|_| c.sample(&mut rng) == 1).count() as f64 / n as f64;
    assert!(
        (ones - 0.25).abs() < 4.0 * (0.25 * 0.75 / n as f64).sqrt(),
        "P(1) {ones}"
    );
}
