//! A cap on connections still being set up, per remote IP address.
//!
//! libp2p's `connection_limits` counts pending incoming connections only in
//! total, so one host opening raw TCP sockets that never finish the
//! handshake fills every slot until the upgrade times out, and an honest
//! peer cannot get in. This behaviour refuses a new pending connection from
//! an address that already has [`PendingPerIp::max_per_ip`] of them, before
//! any handshake work is done; the total stays with `connection_limits`
//! (`NetConfig::max_pending_incoming`), separate from established ones.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::task::{Context, Poll};

use libp2p::core::Endpoint;
use libp2p::core::multiaddr::Protocol;
use libp2p::core::transport::PortUse;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, ListenFailure, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};
use libp2p::{Multiaddr, PeerId};

/// Why a pending connection was refused.
#[derive(Debug, thiserror::Error)]
#[error("{ip} already has {max} connections being set up")]
pub struct TooManyPending {
    pub ip: IpAddr,
    pub max: u32,
}

/// The behaviour; see the module docs.
#[derive(Debug)]
pub struct PendingPerIp {
    pub max_per_ip: u32,
    by_connection: HashMap<ConnectionId, IpAddr>,
    by_ip: HashMap<IpAddr, u32>,
}

impl PendingPerIp {
    pub fn new(max_per_ip: u32) -> PendingPerIp {
        PendingPerIp {
            max_per_ip,
            by_connection: HashMap::new(),
            by_ip: HashMap::new(),
        }
    }

    /// Pending connections from `ip` now.
    pub fn pending_from(&self, ip: IpAddr) -> u32 {
        self.by_ip.get(&ip).copied().unwrap_or(0)
    }

    fn done(&mut self, connection: ConnectionId) {
        if let Some(ip) = self.by_connection.remove(&connection)
            && let Some(n) = self.by_ip.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                self.by_ip.remove(&ip);
            }
        }
    }
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

impl NetworkBehaviour for PendingPerIp {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote) else {
            return Ok(());
        };
        let n = self.by_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return Err(ConnectionDenied::new(TooManyPending {
                ip,
                max: self.max_per_ip,
            }));
        }
        *n += 1;
        self.by_connection.insert(connection_id, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        connection_id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.done(connection_id);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) = event {
            self.done(connection_id);
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_gets_its_share_of_pending_slots_and_no_more() {
        let mut b = PendingPerIp::new(2);
        let local: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        let flood: Multiaddr = "/ip4/127.0.0.2/tcp/50000".parse().unwrap();
        let honest: Multiaddr = "/ip4/127.0.0.1/tcp/50001".parse().unwrap();
        let ids: Vec<ConnectionId> = (0..4)
            .map(|_| ConnectionId::new_unchecked(rand_id()))
            .collect();
        assert!(
            b.handle_pending_inbound_connection(ids[0], &local, &flood)
                .is_ok()
        );
        assert!(
            b.handle_pending_inbound_connection(ids[1], &local, &flood)
                .is_ok()
        );
        assert!(
            b.handle_pending_inbound_connection(ids[2], &local, &flood)
                .is_err()
        );
        assert!(
            b.handle_pending_inbound_connection(ids[3], &local, &honest)
                .is_ok()
        );
        // A handshake that ends (here: established) frees its slot.
        b.handle_established_inbound_connection(ids[0], PeerId::random(), &local, &flood)
            .unwrap();
        assert_eq!(b.pending_from("127.0.0.2".parse().unwrap()), 1);
        assert!(
            b.handle_pending_inbound_connection(ids[2], &local, &flood)
                .is_ok()
        );
    }

    fn rand_id() -> usize {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        NEXT.fetch_add(1, Ordering::Relaxed)
    }
}
