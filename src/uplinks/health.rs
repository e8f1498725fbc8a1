//! The health of one link, sans-IO: the machine is told when to start a probe
//! round, which targets answered and how fast, and what the clock says; it
//! decides rounds, counts and the health (up, degraded, down) with the
//! thresholds of the model. The task around it only sends and receives.
use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

/// A link's health, as `lifeline-uplinks:health` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Health {
    Unknown,
    Up,
    Degraded,
    Down,
    Absent,
    Dormant,
    Disabled,
}

impl Health {
    /// Whether traffic can go over a link in this state.
    pub fn usable(self) -> bool {
        matches!(self, Health::Up | Health::Degraded)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Degraded => "degraded",
            Health::Down => "down",
            Health::Absent => "absent",
            Health::Dormant => "dormant",
            Health::Disabled => "disabled",
        }
    }
}

/// An interface as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// Set up (IFF_UP).
    pub admin_up: bool,
    pub carrier: bool,
}

/// What is known of an uplink besides its probes: its configuration, the
/// down action, whether the manager keeps it dormant, and its interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing<'a> {
    /// Enabled in the configuration.
    pub enabled: bool,
    /// Taken out of use by the down action, by this user.
    pub taken_down: Option<&'a str>,
    /// An on-demand uplink the manager has not brought up.
    pub dormant: bool,
    /// The interface's name, and the interface (`None`: it does not exist).
    pub ifname: &'a str,
    pub interface: Option<Interface>,
    /// Whether there is anything to probe (targets, or a gateway).
    pub has_targets: bool,
}

/// The link-level fault in force on an uplink, which probes cannot override
/// (the configuration's `enabled` first, then the down action, then what the
/// manager and the kernel say); `None` when probes decide.
pub fn fault(s: &Standing) -> Option<(Health, String)> {
    if !s.enabled {
        return Some((Health::Disabled, "disabled in the configuration".into()));
    }
    if let Some(user) = s.taken_down {
        return Some((
            Health::Disabled,
            format!("taken down by an action (by {user})"),
        ));
    }
    if s.dormant {
        return Some((Health::Dormant, "on-demand uplink, not needed".into()));
    }
    let Some(i) = s.interface else {
        return Some((
            Health::Absent,
            format!("interface {} does not exist", s.ifname),
        ));
    };
    if !i.admin_up {
        Some((Health::Down, format!("interface {} is set down", s.ifname)))
    } else if !i.carrier {
        Some((
            Health::Down,
            format!("interface {} has no carrier", s.ifname),
        ))
    } else if !s.has_targets {
        Some((
            Health::Down,
            "nothing to probe: no target, and no gateway configured or learned".into(),
        ))
    } else {
        None
    }
}

/// Rounds over which loss is measured for `degraded`.
pub const WINDOW: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Require {
    Any,
    All,
}

/// The timing of a link's probes, as the model has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    pub require: Require,
    pub interval: Duration,
    pub timeout: Duration,
    pub failure_threshold: u16,
    pub recovery_threshold: u16,
    /// Percent of the last `WINDOW` rounds.
    pub degraded_loss: u8,
}

impl Default for Timing {
    /// The model's defaults (used by tests; the service reads the model's).
    fn default() -> Timing {
        Timing {
            require: Require::Any,
            interval: Duration::from_millis(200),
            timeout: Duration::from_millis(600),
            failure_threshold: 10,
            recovery_threshold: 5,
            degraded_loss: 10,
        }
    }
}

/// A change of health, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: Health,
    pub to: Health,
    pub reason: String,
}

/// A round to send now: one probe to each of `targets` (indexes into the
/// link's target list), tagged `round`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub round: u64,
    pub targets: usize,
}

#[derive(Debug)]
struct Pending {
    id: u64,
    started: Instant,
    answered: Vec<bool>,
}

/// Counters shown as `probe-statistics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    pub sent: u64,
    pub received: u64,
    pub consecutive_failures: u32,
    pub loss: u8,
    pub rtt_last: Option<Duration>,
    pub rtt_average: Option<Duration>,
}

#[derive(Debug)]
pub struct Link {
    timing: Timing,
    targets: usize,
    health: Health,
    reason: String,
    next_round: Instant,
    next_id: u64,
    pending: VecDeque<Pending>,
    window: VecDeque<bool>,
    successes: u32,
    stats: Stats,
    rtt_sum: Duration,
    rtt_count: u64,
}

impl Link {
    /// A link probed from `now` on, health unknown until a round decides.
    pub fn new(timing: Timing, targets: usize, now: Instant) -> Link {
        Link {
            timing,
            targets: targets.max(1),
            health: Health::Unknown,
            reason: "not probed yet".into(),
            next_round: now,
            next_id: 1,
            pending: VecDeque::new(),
            window: VecDeque::with_capacity(WINDOW),
            successes: 0,
            stats: Stats::default(),
            rtt_sum: Duration::ZERO,
            rtt_count: 0,
        }
    }

    pub fn health(&self) -> Health {
        self.health
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// Whether probes are sent in this state.
    fn probing(&self) -> bool {
        matches!(
            self.health,
            Health::Unknown | Health::Up | Health::Degraded | Health::Down
        )
    }

    /// The round to send now, if one is due.
    pub fn poll_round(&mut self, now: Instant) -> Option<Round> {
        if !self.probing() || now < self.next_round {
            return None;
        }
        // Keep the cadence; after a stall (a busy machine) start afresh
        // rather than send a burst of rounds.
        self.next_round += self.timing.interval;
        if self.next_round <= now {
            self.next_round = now + self.timing.interval;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.stats.sent += self.targets as u64;
        self.pending.push_back(Pending {
            id,
            started: now,
            answered: vec![false; self.targets],
        });
        Some(Round {
            round: id,
            targets: self.targets,
        })
    }

    /// A reply from target `target` to round `round`. Replies to rounds that
    /// are decided or unknown (late, duplicated, forged) are ignored.
    pub fn reply(&mut self, round: u64, target: usize, now: Instant) {
        let Some(p) = self.pending.iter_mut().find(|p| p.id == round) else {
            return;
        };
        let Some(a) = p.answered.get_mut(target) else {
            return;
        };
        if *a || now.saturating_duration_since(p.started) > self.timing.timeout {
            return;
        }
        *a = true;
        let rtt = now.saturating_duration_since(p.started);
        self.stats.received += 1;
        self.stats.rtt_last = Some(rtt);
        self.rtt_sum += rtt;
        self.rtt_count += 1;
        self.stats.rtt_average = Some(self.rtt_sum / self.rtt_count as u32);
    }

    /// Decides the rounds that can be decided now, oldest first, and says
    /// whether the health changed.
    pub fn poll(&mut self, now: Instant) -> Option<Transition> {
        let mut change = None;
        while let Some(front) = self.pending.front() {
            let answered = front.answered.iter().filter(|a| **a).count();
            let ok = match self.timing.require {
                Require::Any => answered > 0,
                Require::All => answered == front.answered.len(),
            };
            let expired = now.saturating_duration_since(front.started) >= self.timing.timeout;
            if !ok && !expired {
                break;
            }
            self.pending.pop_front();
            if let Some(t) = self.decided(ok) {
                // The last change wins; its `from` is the first's.
                change = Some(match change {
                    None => t,
                    Some(Transition { from, .. }) => Transition { from, ..t },
                });
            }
        }
        change.filter(|t| t.from != t.to)
    }

    fn decided(&mut self, ok: bool) -> Option<Transition> {
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(ok);
        let lost = self.window.iter().filter(|r| !**r).count();
        self.stats.loss = (lost * 100 / self.window.len()) as u8;
        if ok {
            self.successes += 1;
            self.stats.consecutive_failures = 0;
        } else {
            self.successes = 0;
            self.stats.consecutive_failures += 1;
        }
        let t = &self.timing;
        let lossy = self.window.len() == WINDOW && self.stats.loss >= t.degraded_loss;
        let next = match self.health {
            Health::Unknown if ok => Health::Up,
            Health::Unknown | Health::Up | Health::Degraded
                if self.stats.consecutive_failures >= u32::from(t.failure_threshold) =>
            {
                Health::Down
            }
            Health::Down if self.successes >= u32::from(t.recovery_threshold) => Health::Up,
            Health::Up if lossy => Health::Degraded,
            Health::Degraded if lost == 0 => Health::Up,
            h => h,
        };
        let reason = match next {
            Health::Down => format!(
                "{} probe rounds in a row unanswered",
                self.stats.consecutive_failures
            ),
            Health::Up if self.health == Health::Degraded => "no loss in the last 20 rounds".into(),
            Health::Up if self.health == Health::Down => {
                format!("{} probe rounds in a row answered", self.successes)
            }
            Health::Up => "probes answered".into(),
            Health::Degraded => format!("{}% of the last 20 rounds lost", self.stats.loss),
            _ => return None,
        };
        self.set(next, reason)
    }

    fn set(&mut self, to: Health, reason: String) -> Option<Transition> {
        if to == self.health {
            return None;
        }
        let from = self.health;
        self.health = to;
        self.reason = reason.clone();
        Some(Transition { from, to, reason })
    }

    /// The link is known not to carry traffic (carrier lost, interface gone,
    /// link set down): it is `health` at once, without waiting for probes.
    pub fn fault(&mut self, health: Health, reason: &str, now: Instant) -> Option<Transition> {
        self.pending.clear();
        self.successes = 0;
        self.next_round = now;
        self.set(health, reason.to_string())
    }

    /// The link can carry traffic again (carrier back, interface appeared,
    /// brought up): probes decide from now, as at the start.
    pub fn restart(&mut self, reason: &str, now: Instant) -> Option<Transition> {
        self.pending.clear();
        self.successes = 0;
        self.stats.consecutive_failures = 0;
        self.window.clear();
        self.next_round = now;
        self.set(Health::Unknown, reason.to_string())
    }

    /// When the machine next needs the clock: the next round or the oldest
    /// round's deadline; `None` while not probing.
    pub fn next_wakeup(&self) -> Option<Instant> {
        if !self.probing() {
            return None;
        }
        let deadline = self
            .pending
            .front()
            .map(|p| p.started + self.timing.timeout);
        Some(deadline.map_or(self.next_round, |d| d.min(self.next_round)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a link for `rounds` rounds, each answered after `rtt` when
    /// `answer(round)` says so; returns every transition with its time.
    pub(crate) fn drive(
        link: &mut Link,
        t0: Instant,
        rounds: u64,
        answer: impl Fn(u64) -> bool,
    ) -> Vec<(Duration, Transition)> {
        let rtt = Duration::from_millis(5);
        let mut out = Vec::new();
        let mut now = t0;
        let mut replies: Vec<(Instant, u64)> = Vec::new();
        let end = t0 + link.timing.interval * rounds as u32;
        while now < end {
            if let Some(r) = link.poll_round(now)
                && answer(r.round)
            {
                replies.push((now + rtt, r.round));
            }
            replies.retain(|(at, r)| {
                if *at <= now {
                    link.reply(*r, 0, now);
                    false
                } else {
                    true
                }
            });
            if let Some(t) = link.poll(now) {
                out.push((now - t0, t));
            }
            now += Duration::from_millis(5);
        }
        out
    }

    #[test]
    fn defaults_find_a_dead_link_in_about_two_and_a_half_seconds() {
        let t0 = Instant::now();
        let mut l = Link::new(Timing::default(), 1, t0);
        // Healthy for 10 s, then dead.
        let tr = drive(&mut l, t0, 100, |r| r <= 50);
        assert_eq!(tr[0].1.to, Health::Up, "{tr:?}");
        assert!(tr[0].0 < Duration::from_millis(50));
        let down = tr.iter().find(|(_, t)| t.to == Health::Down).unwrap();
        // Round 51 starts at 10.0 s; the tenth failed round (60) times out at
        // 11.8 + 0.6 s.
        let after = down.0 - Duration::from_secs(10);
        assert!(
            after >= Duration::from_millis(2300) && after <= Duration::from_millis(2500),
            "{after:?}"
        );
        // The first lost rounds made it degraded on the way.
        assert_eq!(down.1.from, Health::Degraded);
        assert!(down.1.reason.starts_with("10 probe rounds"), "{down:?}");
    }

    #[test]
    fn recovery_needs_its_threshold_and_loss_makes_degraded_then_up() {
        let t0 = Instant::now();
        let mut l = Link::new(Timing::default(), 1, t0);
        // Dead from the start: unknown -> down.
        let tr = drive(&mut l, t0, 30, |_| false);
        assert_eq!(tr.len(), 1);
        assert_eq!((tr[0].1.from, tr[0].1.to), (Health::Unknown, Health::Down));
        // Down needs 5 answered rounds in a row to be up again.
        let t1 = t0 + Duration::from_secs(6);
        let tr = drive(&mut l, t1, 4, |_| true);
        assert!(tr.is_empty());
        let tr = drive(&mut l, t1 + Duration::from_millis(800), 40, |_| true);
        assert_eq!(tr[0].1.to, Health::Up);
        assert!(tr[0].1.reason.contains("5 probe rounds"), "{tr:?}");
        // Every third round lost: never 10 in a row, but > 10% of 20.
        let t1 = t1 + Duration::from_secs(10);
        let tr = drive(&mut l, t1, 60, |r| r % 3 != 0);
        assert!(tr.iter().all(|(_, t)| t.to != Health::Down));
        assert!(tr.iter().any(|(_, t)| t.to == Health::Degraded), "{tr:?}");
        let t2 = t1 + Duration::from_secs(12);
        let tr = drive(&mut l, t2, 40, |_| true);
        assert_eq!(tr.last().unwrap().1.to, Health::Up);
        assert_eq!(l.health(), Health::Up);
    }

    #[test]
    fn require_all_fails_a_round_when_one_target_is_silent() {
        let t0 = Instant::now();
        let timing = Timing {
            require: Require::All,
            failure_threshold: 2,
            ..Timing::default()
        };
        let mut l = Link::new(timing, 2, t0);
        let mut now = t0;
        for _ in 0..8 {
            if let Some(r) = l.poll_round(now) {
                l.reply(r.round, 0, now + Duration::from_millis(1));
            }
            now += Duration::from_millis(200);
            l.poll(now);
        }
        assert_eq!(l.health(), Health::Down);
        // Replies to unknown rounds and targets are ignored.
        l.reply(9999, 0, now);
        l.reply(1, 7, now);
    }

    #[test]
    fn late_replies_do_not_count_and_faults_are_immediate() {
        let t0 = Instant::now();
        let mut l = Link::new(Timing::default(), 1, t0);
        let r = l.poll_round(t0).unwrap();
        l.reply(r.round, 0, t0 + Duration::from_millis(700));
        assert_eq!(l.poll(t0 + Duration::from_millis(700)), None);
        assert_eq!(l.stats().received, 0);
        let t = l.fault(Health::Down, "carrier lost", t0).unwrap();
        assert_eq!((t.from, t.to), (Health::Unknown, Health::Down));
        assert_eq!(
            l.fault(Health::Absent, "gone", t0).unwrap().to,
            Health::Absent
        );
        assert_eq!(l.poll_round(t0 + Duration::from_secs(1)), None);
        assert_eq!(l.next_wakeup(), None);
        l.restart("interface appeared", t0);
        assert!(l.poll_round(t0 + Duration::from_secs(1)).is_some());
    }

    fn standing() -> Standing<'static> {
        Standing {
            enabled: true,
            taken_down: None,
            dormant: false,
            ifname: "eth0",
            interface: Some(Interface {
                admin_up: true,
                carrier: true,
            }),
            has_targets: true,
        }
    }

    #[test]
    fn the_down_action_disables_over_every_fault_but_the_configuration() {
        assert_eq!(fault(&standing()), None);
        let down = Standing {
            taken_down: Some("rules"),
            ..standing()
        };
        let (h, why) = fault(&down).unwrap();
        assert_eq!(h, Health::Disabled);
        assert!(
            why.contains("taken down by an action") && why.contains("rules"),
            "{why}"
        );
        // It wins over what the kernel and the manager say...
        for s in [
            Standing {
                interface: None,
                ..down
            },
            Standing {
                dormant: true,
                ..down
            },
            Standing {
                interface: Some(Interface {
                    admin_up: true,
                    carrier: false,
                }),
                ..down
            },
            Standing {
                has_targets: false,
                ..down
            },
        ] {
            assert_eq!(fault(&s), fault(&down), "{s:?}");
        }
        // ... but the configuration's own disable says why first.
        let both = Standing {
            enabled: false,
            ..down
        };
        assert_eq!(
            fault(&both),
            Some((Health::Disabled, "disabled in the configuration".into()))
        );
        // Given back: the other faults are in force again.
        assert_eq!(
            fault(&Standing {
                interface: None,
                ..standing()
            })
            .map(|f| f.0),
            Some(Health::Absent)
        );
        assert_eq!(
            fault(&Standing {
                dormant: true,
                ..standing()
            })
            .map(|f| f.0),
            Some(Health::Dormant)
        );
    }

    #[test]
    fn taken_down_a_link_stops_probing_and_given_back_it_starts_afresh() {
        let t0 = Instant::now();
        let mut l = Link::new(Timing::default(), 1, t0);
        let tr = drive(&mut l, t0, 10, |_| true);
        assert_eq!(l.health(), Health::Up, "{tr:?}");
        let t1 = t0 + Duration::from_secs(2);
        let (h, why) = fault(&Standing {
            taken_down: Some("admin"),
            ..standing()
        })
        .unwrap();
        let t = l.fault(h, &why, t1).unwrap();
        assert_eq!((t.from, t.to), (Health::Up, Health::Disabled));
        assert!(!t.to.usable());
        assert_eq!(l.poll_round(t1 + Duration::from_secs(5)), None);
        assert_eq!(l.next_wakeup(), None);
        // Up again: unknown, probed at once, up after one answered round.
        let t2 = t1 + Duration::from_secs(10);
        let t = l.restart("link usable again: probing", t2).unwrap();
        assert_eq!(t.to, Health::Unknown);
        assert_eq!(l.stats().consecutive_failures, 0);
        let tr = drive(&mut l, t2, 3, |_| true);
        assert_eq!(tr[0].1.to, Health::Up, "{tr:?}");
    }
}
