//! Which uplink carries the traffic, sans-IO: given every uplink's health and
//! the clock, the selector fails over at once when the active uplink stops
//! being usable, fails back to a more preferred one by the model's policy
//! (at once, after it has been usable for the hold-down, or only by the
//! operator), pins an uplink in manual mode, and says which on-demand uplinks
//! must be up (only while no regular uplink is usable, or while one of them
//! carries the traffic). `TunnelWant` says whether the tunnel must be up: the
//! model's bring-up rule, overridden for a while by the start and stop
//! actions.
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::config::BringUp;
use super::health::Health;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failback {
    Immediate,
    AfterHolddown,
    Manual,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `Some(uplink)` in manual mode.
    pub pinned: Option<String>,
    pub failback: Failback,
    pub holddown: Duration,
}

/// One uplink as the selector sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub name: String,
    pub priority: u8,
    pub on_demand: bool,
    pub health: Health,
    /// Why it is in this health (the reason of a failover away from it).
    pub reason: String,
}

impl Candidate {
    /// Regular uplinks before on-demand ones, then by priority, then name.
    fn rank(&self) -> (bool, u8, &str) {
        (self.on_demand, self.priority, &self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Switch {
    /// The first choice after start (or after a configuration change left no
    /// active uplink).
    Initial { to: String },
    /// The active uplink stopped being usable.
    Failover {
        from: String,
        to: String,
        reason: String,
    },
    /// A more preferred uplink is back.
    Failback { from: String, to: String },
    /// The operator pinned an uplink.
    Pinned { from: Option<String>, to: String },
}

impl Switch {
    pub fn to(&self) -> &str {
        match self {
            Switch::Initial { to }
            | Switch::Failover { to, .. }
            | Switch::Failback { to, .. }
            | Switch::Pinned { to, .. } => to,
        }
    }
}

#[derive(Debug, Default)]
pub struct Selector {
    active: Option<String>,
    /// Since when each usable uplink has been usable without a break.
    usable_since: HashMap<String, Instant>,
}

impl Selector {
    pub fn new() -> Selector {
        Selector::default()
    }

    pub fn active(&self) -> Option<&str> {
        self.active.as_deref()
    }

    /// Decides with the uplinks' health now; returns the switch to make, if
    /// any, and when to ask again at the latest (a hold-down ending).
    pub fn step(
        &mut self,
        policy: &Policy,
        links: &[Candidate],
        now: Instant,
    ) -> (Option<Switch>, Option<Instant>) {
        self.usable_since
            .retain(|n, _| links.iter().any(|l| &l.name == n && l.health.usable()));
        for l in links.iter().filter(|l| l.health.usable()) {
            self.usable_since.entry(l.name.clone()).or_insert(now);
        }
        let mut ranked: Vec<&Candidate> = links.iter().collect();
        ranked.sort_by(|a, b| a.rank().cmp(&b.rank()));

        if let Some(pin) = &policy.pinned {
            if self.active.as_deref() == Some(pin.as_str()) || !links.iter().any(|l| &l.name == pin)
            {
                return (None, None);
            }
            let from = self.active.replace(pin.clone());
            return (
                Some(Switch::Pinned {
                    from,
                    to: pin.clone(),
                }),
                None,
            );
        }

        let best = ranked.iter().find(|l| l.health.usable()).copied();
        let current = self
            .active
            .as_ref()
            .and_then(|a| links.iter().find(|l| &l.name == a));
        let Some(current) = current else {
            // At start, wait for the uplinks preferred over the best usable one
            // to be decided, so a restart comes up on the preferred uplink
            // that is healthy now rather than the first to answer.
            let undecided = ranked
                .iter()
                .take_while(|l| best.is_none_or(|b| l.name != b.name))
                .any(|l| l.health == Health::Unknown);
            let Some(best) = best.filter(|_| !undecided) else {
                return (None, None);
            };
            let from = self.active.replace(best.name.clone());
            return (
                Some(match from {
                    // The active uplink was deleted from the configuration.
                    Some(from) => Switch::Failover {
                        from,
                        to: best.name.clone(),
                        reason: "uplink removed from the configuration".into(),
                    },
                    None => Switch::Initial {
                        to: best.name.clone(),
                    },
                }),
                None,
            );
        };

        if !current.health.usable() {
            // Fail over to the best usable uplink; with none, keep the routes
            // of the last one (better than no default route at all).
            let Some(best) = best else {
                return (None, None);
            };
            let sw = Switch::Failover {
                from: current.name.clone(),
                to: best.name.clone(),
                reason: current.reason.clone(),
            };
            self.active = Some(best.name.clone());
            return (Some(sw), None);
        }

        // The active uplink is usable: fail back to a more preferred one?
        let mut wake = None;
        for l in ranked
            .iter()
            .take_while(|l| l.rank() < current.rank())
            .filter(|l| l.health.usable())
        {
            let ready = match policy.failback {
                Failback::Immediate => true,
                Failback::Manual => false,
                Failback::AfterHolddown => {
                    let due = self.usable_since[&l.name] + policy.holddown;
                    if now < due {
                        wake = Some(wake.map_or(due, |w: Instant| w.min(due)));
                    }
                    now >= due
                }
            };
            if ready {
                let sw = Switch::Failback {
                    from: current.name.clone(),
                    to: l.name.clone(),
                };
                self.active = Some(l.name.clone());
                return (Some(sw), None);
            }
        }
        (None, wake)
    }

    /// The on-demand uplinks that must be up now: all of them while no
    /// regular uplink is usable (once every regular one is decided), and the
    /// active one while it carries the traffic; never a disabled one (by the
    /// configuration or the down action).
    pub fn on_demand_wanted(&self, links: &[Candidate]) -> BTreeSet<String> {
        let regular = || links.iter().filter(|l| !l.on_demand);
        let need = !regular().any(|l| l.health.usable() || l.health == Health::Unknown);
        links
            .iter()
            .filter(|l| l.on_demand && l.health != Health::Disabled)
            .filter(|l| need || self.active.as_deref() == Some(l.name.as_str()))
            .map(|l| l.name.clone())
            .collect()
    }
}

/// Whether the tunnel must be up: the bring-up rule, and the override of the
/// start and stop actions. With `on-failover` the override lasts until the
/// next failover or failback; with `always`, stop lasts until start; with
/// `manual` (down unless started), each lasts until the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelWant {
    rule: BringUp,
    /// `Some(up)` while an action overrides the rule.
    held: Option<bool>,
}

impl TunnelWant {
    pub fn new(rule: BringUp) -> TunnelWant {
        TunnelWant { rule, held: None }
    }

    /// The start (`true`) or stop (`false`) action.
    pub fn hold(&mut self, up: bool) {
        self.held = match (self.rule, up) {
            // What the rule says anyway, for good.
            (BringUp::Always, true) | (BringUp::Manual, false) => None,
            _ => Some(up),
        };
    }

    /// The override in force, if any.
    pub fn held(&self) -> Option<bool> {
        self.held
    }

    /// A switch of the active uplink: a failover or failback edge ends an
    /// override of the on-failover rule.
    pub fn switched(&mut self, sw: &Switch) {
        if self.rule == BringUp::OnFailover && !matches!(sw, Switch::Initial { .. }) {
            self.held = None;
        }
    }

    /// Whether the tunnel must be up, `failed_over` being whether a backup
    /// uplink carries the traffic.
    pub fn wanted(&self, failed_over: bool) -> bool {
        self.held.unwrap_or(match self.rule {
            BringUp::OnFailover => failed_over,
            BringUp::Always => true,
            BringUp::Manual => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::health::{Link, Timing};
    use super::*;

    fn cand(name: &str, priority: u8, on_demand: bool, health: Health) -> Candidate {
        Candidate {
            name: name.into(),
            priority,
            on_demand,
            health,
            reason: String::new(),
        }
    }

    fn policy() -> Policy {
        Policy {
            pinned: None,
            failback: Failback::AfterHolddown,
            holddown: Duration::from_secs(60),
        }
    }

    #[test]
    fn start_waits_for_the_preferred_uplink_then_fails_over_and_back() {
        let t0 = Instant::now();
        let mut s = Selector::new();
        let p = policy();
        let mut links = vec![
            cand("wan", 10, false, Health::Unknown),
            cand("lte", 20, false, Health::Up),
        ];
        assert_eq!(s.step(&p, &links, t0), (None, None));
        links[0].health = Health::Up;
        let (sw, _) = s.step(&p, &links, t0);
        assert_eq!(sw, Some(Switch::Initial { to: "wan".into() }));
        links[0].health = Health::Down;
        links[0].reason = "10 probe rounds in a row unanswered".into();
        let (sw, _) = s.step(&p, &links, t0 + Duration::from_secs(1));
        assert!(
            matches!(sw, Some(Switch::Failover { ref to, ref reason, .. })
            if to == "lte" && reason.contains("unanswered"))
        );
        links[0].health = Health::Up;
        let t1 = t0 + Duration::from_secs(5);
        let (sw, wake) = s.step(&p, &links, t1);
        assert_eq!(sw, None);
        assert_eq!(wake, Some(t1 + Duration::from_secs(60)));
        let (sw, _) = s.step(&p, &links, t1 + Duration::from_secs(60));
        assert_eq!(
            sw,
            Some(Switch::Failback {
                from: "lte".into(),
                to: "wan".into()
            })
        );
    }

    #[test]
    fn manual_pin_and_manual_failback() {
        let t0 = Instant::now();
        let mut s = Selector::new();
        let links = vec![
            cand("wan", 10, false, Health::Up),
            cand("lte", 20, false, Health::Up),
        ];
        let mut p = policy();
        p.pinned = Some("lte".into());
        let (sw, _) = s.step(&p, &links, t0);
        assert_eq!(
            sw,
            Some(Switch::Pinned {
                from: None,
                to: "lte".into()
            })
        );
        p.pinned = None;
        p.failback = Failback::Manual;
        assert_eq!(
            s.step(&p, &links, t0 + Duration::from_secs(999)),
            (None, None)
        );
        assert_eq!(s.active(), Some("lte"));
    }

    #[test]
    fn on_demand_uplinks_come_up_only_when_no_regular_one_is_usable() {
        let t0 = Instant::now();
        let mut s = Selector::new();
        let p = policy();
        let mut links = vec![
            cand("wan", 10, false, Health::Up),
            cand("modem", 1, true, Health::Dormant),
        ];
        s.step(&p, &links, t0);
        assert_eq!(s.active(), Some("wan"));
        assert!(s.on_demand_wanted(&links).is_empty());
        links[0].health = Health::Down;
        assert_eq!(s.on_demand_wanted(&links).len(), 1);
        // No usable uplink yet: the routes stay on wan.
        assert_eq!(s.step(&p, &links, t0).0, None);
        links[1].health = Health::Up;
        let (sw, _) = s.step(&p, &links, t0);
        assert_eq!(sw.unwrap().to(), "modem");
        links[0].health = Health::Up;
        // Kept up while it carries the traffic, then failback and down.
        assert_eq!(s.on_demand_wanted(&links).len(), 1);
        let (sw, _) = s.step(&p, &links, t0 + Duration::from_secs(61));
        let (sw, _) = match sw {
            None => s.step(&p, &links, t0 + Duration::from_secs(200)),
            sw => (sw, None),
        };
        assert_eq!(sw.unwrap().to(), "wan");
        assert!(s.on_demand_wanted(&links).is_empty());
    }

    #[test]
    fn a_disabled_on_demand_uplink_is_never_wanted_and_a_disabled_active_one_fails_over() {
        let t0 = Instant::now();
        let mut s = Selector::new();
        let p = Policy {
            failback: Failback::Immediate,
            ..policy()
        };
        let mut links = vec![
            cand("wan", 10, false, Health::Up),
            cand("lte", 20, false, Health::Up),
            cand("modem", 1, true, Health::Dormant),
        ];
        s.step(&p, &links, t0);
        assert_eq!(s.active(), Some("wan"));
        // The down action on the active uplink: failover with its reason.
        links[0].health = Health::Disabled;
        links[0].reason = "taken down by an action (by admin)".into();
        let (sw, _) = s.step(&p, &links, t0);
        assert_eq!(
            sw,
            Some(Switch::Failover {
                from: "wan".into(),
                to: "lte".into(),
                reason: "taken down by an action (by admin)".into()
            })
        );
        // No regular uplink usable: the modem is wanted, unless taken down.
        links[1].health = Health::Down;
        assert_eq!(s.on_demand_wanted(&links).len(), 1);
        links[2].health = Health::Disabled;
        assert!(s.on_demand_wanted(&links).is_empty());
        // Given back and up: immediate failback.
        links[1].health = Health::Up;
        links[0].health = Health::Unknown;
        assert_eq!(s.step(&p, &links, t0).0, None);
        links[0].health = Health::Up;
        let (sw, _) = s.step(&p, &links, t0);
        assert_eq!(
            sw,
            Some(Switch::Failback {
                from: "lte".into(),
                to: "wan".into()
            })
        );
    }

    #[test]
    fn tunnel_actions_override_the_rule_until_the_next_edge_or_action() {
        let failover = Switch::Failover {
            from: "wan".into(),
            to: "lte".into(),
            reason: String::new(),
        };
        let failback = Switch::Failback {
            from: "lte".into(),
            to: "wan".into(),
        };
        let initial = Switch::Initial { to: "wan".into() };

        // on-failover: the rule, overridden until the next edge.
        let mut t = TunnelWant::new(BringUp::OnFailover);
        assert!(!t.wanted(false) && t.wanted(true));
        t.hold(true);
        assert!(t.wanted(false));
        t.switched(&initial);
        assert!(t.wanted(false), "the first choice is no edge");
        t.switched(&failover);
        assert_eq!(t.held(), None);
        assert!(t.wanted(true));
        t.hold(false);
        assert!(!t.wanted(true));
        t.switched(&failback);
        assert!(!t.wanted(false) && t.wanted(true));

        // manual: down until start, up until stop, edges change nothing.
        let mut t = TunnelWant::new(BringUp::Manual);
        assert!(!t.wanted(true));
        t.hold(true);
        t.switched(&failover);
        t.switched(&failback);
        assert!(t.wanted(false));
        t.hold(false);
        assert!(!t.wanted(true));
        assert_eq!(t.held(), None);

        // always: stop lasts until start, whatever the edges.
        let mut t = TunnelWant::new(BringUp::Always);
        assert!(t.wanted(false));
        t.hold(false);
        t.switched(&failover);
        assert!(!t.wanted(true));
        assert_eq!(t.held(), Some(false));
        t.hold(true);
        assert!(t.wanted(false));
        assert_eq!(t.held(), None);
    }

    /// Hours of scripted probe results through the health machines and the
    /// selector: loss bursts, flaps, both links down, recovery.
    #[test]
    fn hours_of_scripted_faults_keep_the_invariants() {
        #[derive(Clone, Copy)]
        enum Fault {
            Clean,
            Loss(u32),
            Dead,
            /// Up and down every `n` seconds.
            Flap(u64),
        }
        // (start second, primary, secondary)
        let script: &[(u64, Fault, Fault)] = &[
            (0, Fault::Clean, Fault::Clean),
            (600, Fault::Loss(30), Fault::Clean),
            (1800, Fault::Dead, Fault::Clean),
            (2400, Fault::Clean, Fault::Clean),
            (3000, Fault::Flap(1), Fault::Clean),
            (4200, Fault::Flap(7), Fault::Clean),
            (5400, Fault::Flap(40), Fault::Clean),
            (6600, Fault::Dead, Fault::Dead),
            (7200, Fault::Dead, Fault::Clean),
            (7800, Fault::Loss(50), Fault::Loss(30)),
            (9000, Fault::Clean, Fault::Clean),
        ];
        let end = 10_800u64;
        let t0 = Instant::now();
        let p = policy();
        let mut links = [
            Link::new(Timing::default(), 1, t0),
            Link::new(Timing::default(), 1, t0),
        ];
        let names = ["wan", "lte"];
        let mut sel = Selector::new();
        // A deterministic generator, so a failure repeats.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rand = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 100) as u32
        };
        let answers = |f: Fault, sec: u64, r: u32| match f {
            Fault::Clean => true,
            Fault::Loss(pct) => r >= pct,
            Fault::Dead => false,
            Fault::Flap(n) => (sec / n).is_multiple_of(2),
        };
        let step = Duration::from_millis(10);
        let mut now = t0;
        let mut pending: Vec<(Instant, usize, u64)> = Vec::new();
        let mut switches: Vec<(u64, Switch)> = Vec::new();
        let mut seg = 0;
        let mut segment_failovers = 0;
        while now < t0 + Duration::from_secs(end) {
            let sec = (now - t0).as_secs();
            if seg + 1 < script.len() && sec >= script[seg + 1].0 {
                seg += 1;
                segment_failovers = 0;
            }
            let (_, f0, f1) = script[seg];
            for (i, f) in [f0, f1].into_iter().enumerate() {
                if let Some(r) = links[i].poll_round(now)
                    && answers(f, sec, rand())
                {
                    pending.push((now + Duration::from_millis(3), i, r.round));
                }
            }
            pending.retain(|&(at, i, r)| {
                if at <= now {
                    links[i].reply(r, 0, now);
                    false
                } else {
                    true
                }
            });
            for l in links.iter_mut() {
                l.poll(now);
            }
            let cands: Vec<Candidate> = links
                .iter()
                .enumerate()
                .map(|(i, l)| Candidate {
                    name: names[i].into(),
                    priority: i as u8,
                    on_demand: false,
                    health: l.health(),
                    reason: l.reason().into(),
                })
                .collect();
            if let (Some(sw), _) = sel.step(&p, &cands, now) {
                if matches!(sw, Switch::Failover { .. }) {
                    segment_failovers += 1;
                }
                switches.push((sec, sw));
            }
            // Never stranded: while any uplink is usable, one is active, and
            // a usable active one is never left for an unusable one.
            if cands.iter().any(|c| c.health.usable()) && sec > 5 {
                let active = sel.active().expect("an active uplink");
                let a = cands.iter().find(|c| c.name == active).unwrap();
                assert!(
                    a.health.usable() || now - t0 < Duration::from_secs(1),
                    "{sec}s: {active} active but {:?}",
                    a.health
                );
            }
            // 30% loss on one link, with the other clean, never fails over;
            // flapping fails over at most once per hold-down.
            match (f0, f1) {
                (Fault::Loss(30), Fault::Clean) => assert_eq!(segment_failovers, 0, "{sec}s"),
                (Fault::Flap(_), Fault::Clean) => {
                    let elapsed = sec - script[seg].0;
                    assert!(
                        segment_failovers <= 1 + elapsed / 60,
                        "{sec}s: {segment_failovers} failovers: {switches:?}"
                    );
                }
                _ => {}
            }
            now += step;
        }
        // The end is clean: back on the primary.
        assert_eq!(sel.active(), Some("wan"), "{switches:?}");
        // Both links down for ten minutes, then the secondary alone: the
        // appliance was on the secondary during that time.
        let at = |s: u64| {
            switches
                .iter()
                .rev()
                .find(|(t, _)| *t <= s)
                .map(|(_, sw)| sw.to().to_string())
        };
        assert_eq!(at(7500).as_deref(), Some("lte"));
        assert_eq!(at(2300).as_deref(), Some("lte"));
        assert_eq!(at(2000).as_deref(), Some("lte"));
        assert_eq!(at(1500).as_deref(), Some("wan"));
    }
}
