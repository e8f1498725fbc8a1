//! The kernel's side, over rtnetlink: links (present, up, carrier), the
//! gateway an interface's own default route names (DHCP's or the
//! operator's), and the appliance's routing: one table per uplink that keeps
//! its probes on its own link, an active table whose default route (and
//! management routes) follows the active uplink, and the rules that consult
//! them. Only these tables and rules, in the model's ranges, are touched.
use std::net::IpAddr;

use futures_util::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::rule::{RuleAction, RuleAttribute};
use rtnetlink::{Handle, IpVersion, LinkUnspec, RouteMessageBuilder};

/// What the kernel says of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    pub index: u32,
    pub name: String,
    /// Set up by the administrator (`ip link set up`).
    pub admin_up: bool,
    /// The link has carrier.
    pub carrier: bool,
    pub point_to_point: bool,
}

fn info(m: &LinkMessage) -> Option<LinkInfo> {
    let name = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })?;
    let f = m.header.flags;
    Some(LinkInfo {
        index: m.header.index,
        name,
        admin_up: f.contains(LinkFlags::Up),
        carrier: f.contains(LinkFlags::LowerUp) || f.contains(LinkFlags::Running),
        point_to_point: f.contains(LinkFlags::Pointopoint),
    })
}

/// Rule priorities past the base: suppress, then one per uplink, then the
/// active table.
const ACTIVE_RULE: u32 = 200;
/// Rules in `[base, base + SPAN)` are ours.
const SPAN: u32 = 256;

#[derive(Clone)]
pub struct Netlink {
    h: Handle,
}

pub type Error = String;

fn err(e: rtnetlink::Error) -> Error {
    e.to_string()
}

fn route_table(m: &RouteMessage) -> u32 {
    m.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(m.header.table))
}

fn addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// A route the appliance installs: `dst/len via gateway dev oif`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub dst: IpAddr,
    pub len: u8,
    pub gateway: Option<IpAddr>,
    pub oif: u32,
}

impl Route {
    pub fn default(v6: bool, gateway: Option<IpAddr>, oif: u32) -> Route {
        Route {
            dst: if v6 {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            } else {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            },
            len: 0,
            gateway,
            oif,
        }
    }
}

/// Parses `10.0.0.0/8` or `fd00::/8`.
pub fn prefix(s: &str) -> Option<(IpAddr, u8)> {
    let (a, l) = s.split_once('/')?;
    Some((a.parse().ok()?, l.parse().ok()?))
}

impl Netlink {
    /// A connection whose task runs on the current runtime.
    pub fn connect() -> std::io::Result<Netlink> {
        let (conn, h, _) = rtnetlink::new_connection()?;
        tokio::spawn(conn);
        Ok(Netlink { h })
    }

    /// A connection that also receives link changes: a message on the
    /// returned channel whenever any link changes (the caller then reads the
    /// links it cares about again).
    pub fn watch_links() -> std::io::Result<tokio::sync::mpsc::UnboundedReceiver<()>> {
        use futures_util::StreamExt;
        use netlink_sys::{AsyncSocket, SocketAddr};
        let (mut conn, _h, mut msgs) = rtnetlink::new_connection()?;
        // RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
        let groups = 1 | 0x10 | 0x40 | 0x400;
        conn.socket_mut()
            .socket_mut()
            .bind(&SocketAddr::new(0, groups))?;
        tokio::spawn(conn);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while msgs.next().await.is_some() {
                if tx.send(()).is_err() {
                    break;
                }
            }
        });
        Ok(rx)
    }

    pub async fn links(&self) -> Result<Vec<LinkInfo>, Error> {
        let mut out = Vec::new();
        let mut s = self.h.link().get().execute();
        while let Some(m) = s.try_next().await.map_err(err)? {
            out.extend(info(&m));
        }
        Ok(out)
    }

    pub async fn set_link(&self, index: u32, up: bool) -> Result<(), Error> {
        let b = LinkUnspec::new_with_index(index);
        let m = if up { b.up() } else { b.down() }.build();
        self.h.link().set(m).execute().await.map_err(err)
    }

    /// The gateways of the main table's default routes, by interface index
    /// (the lowest metric first), for one family.
    pub async fn default_gateways(&self, v6: bool) -> Result<Vec<(u32, IpAddr)>, Error> {
        let msg = if v6 {
            RouteMessageBuilder::<std::net::Ipv6Addr>::new().build()
        } else {
            RouteMessageBuilder::<std::net::Ipv4Addr>::new().build()
        };
        let mut out: Vec<(u32, u32, IpAddr)> = Vec::new();
        let mut s = self.h.route().get(msg).execute();
        while let Some(m) = s.try_next().await.map_err(err)? {
            if m.header.destination_prefix_length != 0 || route_table(&m) != 254 {
                continue;
            }
            let mut oif = None;
            let mut gw = None;
            let mut metric = 0;
            for a in &m.attributes {
                match a {
                    RouteAttribute::Oif(i) => oif = Some(*i),
                    RouteAttribute::Gateway(g) => gw = addr(g),
                    RouteAttribute::Priority(p) => metric = *p,
                    _ => {}
                }
            }
            if let (Some(oif), Some(gw)) = (oif, gw) {
                out.push((metric, oif, gw));
            }
        }
        out.sort();
        Ok(out.into_iter().map(|(_, i, g)| (i, g)).collect())
    }

    fn message(table: u32, r: &Route) -> Result<RouteMessage, Error> {
        let mut b = RouteMessageBuilder::<IpAddr>::new()
            .destination_prefix(r.dst, r.len)
            .map_err(|e| e.to_string())?
            .output_interface(r.oif)
            .table_id(table);
        if let Some(g) = r.gateway {
            b = b.gateway(g).map_err(|e| e.to_string())?;
        }
        Ok(b.build())
    }

    /// Puts `r` in `table` in the place of any route to the same prefix (one
    /// netlink message: there is no moment without a route).
    pub async fn replace(&self, table: u32, r: &Route) -> Result<(), Error> {
        let m = Self::message(table, r)?;
        self.h.route().add(m).replace().execute().await.map_err(err)
    }

    /// The routes of `table` (one of ours).
    pub async fn routes(&self, table: u32) -> Result<Vec<RouteMessage>, Error> {
        let mut out = Vec::new();
        for v in [IpVersion::V4, IpVersion::V6] {
            let msg = match v {
                IpVersion::V4 => RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
                IpVersion::V6 => RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
            };
            let mut s = self.h.route().get(msg).execute();
            while let Some(m) = s.try_next().await.map_err(err)? {
                if route_table(&m) == table {
                    out.push(m);
                }
            }
        }
        Ok(out)
    }

    /// Removes the routes of `table` that `keep` refuses.
    pub async fn prune(&self, table: u32, keep: impl Fn(IpAddr, u8) -> bool) -> Result<(), Error> {
        for m in self.routes(table).await? {
            let dst = m.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(d) => addr(d),
                _ => None,
            });
            let dst = dst.unwrap_or(match m.header.address_family {
                AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            });
            if !keep(dst, m.header.destination_prefix_length) {
                self.h.route().del(m).execute().await.map_err(err)?;
            }
        }
        Ok(())
    }

    /// Removes our rules (priorities `[base, base + SPAN)`, both families).
    pub async fn clear_rules(&self, base: u32) -> Result<(), Error> {
        for v in [IpVersion::V4, IpVersion::V6] {
            let mut ours = Vec::new();
            let mut s = self.h.rule().get(v).execute();
            while let Some(m) = s.try_next().await.map_err(err)? {
                let prio = m.attributes.iter().find_map(|a| match a {
                    RuleAttribute::Priority(p) => Some(*p),
                    _ => None,
                });
                if prio.is_some_and(|p| (base..base + SPAN).contains(&p)) {
                    ours.push(m);
                }
            }
            for m in ours {
                self.h.rule().del(m).execute().await.map_err(err)?;
            }
        }
        Ok(())
    }

    /// Installs our rules, both families: the main table without its default
    /// routes first (so connected and specific routes win), then each
    /// uplink's table for packets bound to its interface, then the active
    /// table.
    pub async fn install_rules(
        &self,
        base: u32,
        uplinks: &[(String, u32)],
        active_table: u32,
    ) -> Result<(), Error> {
        self.clear_rules(base).await?;
        for v6 in [false, true] {
            let add = || {
                let r = self.h.rule().add();
                r.action(RuleAction::ToTable)
            };
            let mut r = add().table_id(254).priority(base);
            r.message_mut()
                .attributes
                .push(RuleAttribute::SuppressPrefixLen(0));
            if v6 {
                r.v6().execute().await
            } else {
                r.v4().execute().await
            }
            .map_err(err)?;
            for (i, (ifname, table)) in uplinks.iter().enumerate() {
                let r = add()
                    .table_id(*table)
                    .priority(base + 1 + i as u32)
                    .output_interface(ifname.clone());
                if v6 {
                    r.v6().execute().await
                } else {
                    r.v4().execute().await
                }
                .map_err(err)?;
            }
            let r = add().table_id(active_table).priority(base + ACTIVE_RULE);
            if v6 {
                r.v6().execute().await
            } else {
                r.v4().execute().await
            }
            .map_err(err)?;
        }
        Ok(())
    }

    /// Adds an address to an interface (a tunnel's), if it is not there.
    pub async fn add_address(&self, index: u32, a: IpAddr, len: u8) -> Result<(), Error> {
        match self.h.address().add(index, a, len).execute().await {
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => Ok(()),
            r => r.map_err(err),
        }
    }

    /// Creates a kernel WireGuard interface; an error if the kernel has none.
    pub async fn add_wireguard(&self, name: &str) -> Result<(), Error> {
        let m = rtnetlink::LinkWireguard::new(name).build();
        self.h.link().add(m).execute().await.map_err(err)
    }

    pub async fn delete_link(&self, index: u32) -> Result<(), Error> {
        self.h.link().del(index).execute().await.map_err(err)
    }
}
